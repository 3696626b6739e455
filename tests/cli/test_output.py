"""Code and model output are printed as they are: never read as rich markup."""

from __future__ import annotations

import io
import re

from rich.console import Console

from selfheal.cli._common import print_code

CODE = (
    "def is_palindrome(text: str) -> bool:\n"
    '    """[bold]not markup[/bold]"""\n'
    "    cleaned = [c.lower() for c in text if c.isalnum()]\n"
    "    return cleaned == cleaned[::-1]\n"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_piped_output_is_the_code_byte_for_byte() -> None:
    buf = io.StringIO()
    print_code(CODE, out=Console(file=buf, force_terminal=False, width=20))
    assert buf.getvalue() == CODE


def test_a_terminal_shows_every_character_of_every_line_highlighted() -> None:
    buf = io.StringIO()
    print_code(CODE, out=Console(file=buf, force_terminal=True, width=30, color_system="standard"))
    raw = buf.getvalue()
    assert "\x1b[" in raw  # highlighted
    shown = [line.rstrip() for line in ANSI.sub("", raw).splitlines()]
    assert shown == CODE.splitlines()  # narrower than the code, yet nothing wrapped or cropped


def test_the_status_line_says_requests_pass_rate_live_versions_and_model() -> None:
    from selfheal.cli._status import status_text

    line = status_text(
        {
            "total_requests": 12,
            "last_hour_requests": 4,
            "last_hour_pass_rate": 0.75,
            "live": [
                {
                    "task_type": "code_generation",
                    "version": 3,
                    "status": "active",
                    "canary_share": None,
                },
                {
                    "task_type": "code_generation",
                    "version": 4,
                    "status": "canary",
                    "canary_share": 0.2,
                },
            ],
            "provider": "openai",
            "model": "qwen2.5-coder-1.5b",
        }
    ).plain
    assert line == (
        "● 12 requests · last hour 4 (75% passed) · live: code_generation v3, "
        "code_generation v4 (canary 20%) · model: openai/qwen2.5-coder-1.5b"
    )

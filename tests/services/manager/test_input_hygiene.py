"""Whatever a client sends, the manager answers with a result or a 4xx sentence, never a 5xx,
stores accepted text faithfully (NUL included, on both databases), keeps the connection usable
and leaves exactly one log row per request that reached it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveStack

ODD = "fibonacci \x00 nul \x01\x07\x1b[31m \x7f \ue000 \ue0000 \u2028 \ud7ff end"


@pytest.fixture
def client(live_stack: LiveStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_stack.url(), timeout=60) as c:
        yield c


def _log_count(client: httpx.Client) -> int:
    return len(client.get("/api/v1/requests", params={"limit": 500}).json())


def test_control_characters_are_stored_and_returned_faithfully(client: httpx.Client) -> None:
    resp = client.post(
        "/api/v1/request",
        json={
            "user_input": "Write a fibonacci function " + ODD,
            "tests": "# " + ODD.replace("\x00", "") + "\nassert fib(10) == 55\n",
        },
    )
    assert resp.status_code == 200, resp.text
    row = client.get(f"/api/v1/requests/{resp.json()['request_id']}").json()
    assert row["user_input"] == "Write a fibonacci function " + ODD
    assert ODD in row["refined_input"]


def test_a_prompt_with_nul_is_stored_faithfully(client: httpx.Client) -> None:
    content = "You write Python.\x00 Keep \ue000 and \x1b as they are."
    resp = client.post(
        "/api/v1/prompts/hygiene", json={"content": content, "reason": "nul \x00 here"}
    )
    assert resp.status_code == 201, resp.text
    versions = client.get("/api/v1/prompts/hygiene/versions").json()
    assert versions[0]["content"] == content
    assert versions[0]["reason"] == "nul \x00 here"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"user_input": "fib \\ud800"}', "lone surrogate"),
        ('{"user_input": "fib", "tests": "assert \\udfff"}', "lone surrogate"),
        ('{"user_input": "fib", "tests": "assert fib(3) == 2\\u0000"}', "tests"),
        ('{"user_input": "fib", "task_type": "a\\u0000"}', "task_type"),
    ],
)
def test_text_that_cannot_be_valid_gets_a_422_sentence_and_one_row(
    client: httpx.Client, body: str, says: str
) -> None:
    before = _log_count(client)
    resp = client.post(
        "/api/v1/request", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    assert says in resp.json()["message"]
    assert _log_count(client) == before + 1
    assert client.get("/health").status_code == 200  # same connection, still served


@pytest.mark.parametrize(
    "raw",
    [b'{"user_input": "fib \xff\xfe"}', b'{"user_input": "\xed\xa0\x80"}', b"\xc3("],
)
def test_bytes_that_are_not_utf8_get_a_422_sentence_and_one_row(
    client: httpx.Client, raw: bytes
) -> None:
    before = _log_count(client)
    resp = client.post("/api/v1/request", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert "not valid UTF-8" in resp.json()["message"] or "surrogate" in resp.json()["message"]
    assert _log_count(client) == before + 1
    ok = client.post("/api/v1/request", json={"user_input": "Write a fibonacci function"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/prompts/code_generation", '{"content": "x \\ud800"}'),
        ("POST", "/api/v1/prompts/code_generation", b'{"content": "\xff"}'),
        ("POST", "/api/v1/prompts/code_generation/rollback", '{"reason": "\\udc00"}'),
        ("POST", "/api/v1/optimizations/run", '{"task_type": "\\ud800"}'),
        ("POST", "/api/v1/request", b"\x00"),
        ("POST", "/api/v1/request", b"[]"),
        ("POST", "/api/v1/request", b"null"),
        ("POST", "/api/v1/request", b'"fib"'),
        ("POST", "/api/v1/request", b'{"user_input": 1e999}'),
        ("POST", "/api/v1/request", b'{"user_input": NaN}'),
        ("POST", "/api/v1/request", b"[" * 100_000),
        ("POST", "/api/v1/request", rb'{"user_input": {"a": [1, "\u0000"]}}'),
        ("POST", "/api/v1/request", rb'{"user_input": "fib", "entry_point": "f\u0000"}'),
        ("POST", "/api/v1/request", b'{"user_input": "fib", "tests": "\x00"}'),
        ("GET", "/api/v1/requests/%FF%00", None),
        ("GET", "/api/v1/requests?task_type=%FF", None),
        ("GET", "/api/v1/prompts/%ED%A0%80/versions", None),
    ],
)
def test_no_input_gives_a_server_error(
    client: httpx.Client, method: str, path: str, body: str | bytes | None
) -> None:
    before = _log_count(client)
    resp = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert resp.status_code < 500, resp.text
    json.loads(resp.text)  # an answer, not a reset
    assert client.get("/health").status_code == 200
    if path == "/api/v1/request":  # a code request that reached the manager leaves one row
        assert _log_count(client) == before + 1


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/requests", {"params": {"offset": 2**63 + 1}}),
        ("POST", "/api/v1/prompts/code_generation/rollback", {"json": {"to_version": 2**65}}),
        ("GET", f"/api/v1/prompts/code_generation/versions/{2**64}/diff", {}),
        ("GET", "/api/v1/prompts/code_generation/versions/1/diff", {"params": {"against": 2**40}}),
    ],
)
def test_integers_past_the_database_range_are_a_422(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, object]
) -> None:
    resp = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert resp.status_code == 422, resp.text
    assert "less than or equal to 2147483647" in resp.text


def test_the_worker_refuses_a_prompt_version_past_the_database_range(
    live_stack: LiveStack,
) -> None:
    body = {
        "request_id": "r1",
        "task_type": "code_generation",
        "refined_input": "fib",
        "prompt_version": 2**80,
    }
    resp = httpx.post(live_stack.url("worker") + "/api/v1/task", json=body, timeout=30)
    assert resp.status_code == 422, resp.text

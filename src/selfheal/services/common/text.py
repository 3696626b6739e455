"""Request bodies whose strings are valid Unicode text (shared by every service's schemas)."""

from __future__ import annotations

from pydantic import BaseModel, field_validator


def check_unicode(value: str) -> str:
    """The value if UTF-8 can encode it; a ValueError with a sentence if it holds a lone surrogate.

    JSON may escape a lone surrogate (``"\\ud800"``): no program text, prompt or answer holds
    one, and it cannot be stored, run or sent back.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"holds a lone surrogate (\\u{ord(value[exc.start]):04x} at character "
            f"{exc.start}), which is not valid Unicode text"
        ) from None
    return value


class TextModel(BaseModel):
    """A request body whose top-level strings are all valid Unicode text."""

    @field_validator("*", mode="before")
    @classmethod
    def _valid_unicode(cls, value: object) -> object:
        return check_unicode(value) if isinstance(value, str) else value

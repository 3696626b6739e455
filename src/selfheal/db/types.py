"""Column types that store every Python string faithfully on every database.

PostgreSQL's ``text`` and ``jsonb`` cannot hold NUL (U+0000), which is valid JSON (``"\\u0000"``)
and so reaches us in requests. On PostgreSQL these types escape it reversibly at the storage
boundary: NUL becomes ``ESCAPE + "0"`` and the escape character itself ``ESCAPE + "e"``, so a
value read back is the value written. SQLite stores NUL as it is; nothing is escaped there.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# The largest integer a client may send for a version, an id or an offset: PostgreSQL's INTEGER.
# A larger number cannot name a row and would overflow the query; models bound them to answer 422.
DB_INT_MAX = 2**31 - 1

ESCAPE = "\ue000"  # a private-use character: rare in text, and itself escaped when present
_DECODE = re.compile(ESCAPE + "([0e])")
_DECODED = {"0": "\x00", "e": ESCAPE}


def escape_nul(value: str) -> str:
    """The value with NUL (and the escape character) escaped, storable in PostgreSQL."""
    if "\x00" not in value and ESCAPE not in value:
        return value
    return value.replace(ESCAPE, ESCAPE + "e").replace("\x00", ESCAPE + "0")


def unescape_nul(value: str) -> str:
    """The inverse of :func:`escape_nul`."""
    if ESCAPE not in value:
        return value
    return _DECODE.sub(lambda m: _DECODED[m.group(1)], value)


def _walk(value: Any, convert: Any) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, dict):
        return {_walk(k, convert): _walk(v, convert) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, convert) for v in value]
    return value


class SafeString(TypeDecorator[str]):
    """``String(n)`` that keeps NUL on PostgreSQL: a client's lookup key (a request id, a task
    type in a path) that holds one finds nothing instead of failing the query."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        return escape_nul(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        return unescape_nul(value)


class SafeText(SafeString):
    """``Text`` that keeps NUL on PostgreSQL (escaped reversibly)."""

    impl = Text
    cache_ok = True


class SafeJSON(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) whose strings keep NUL (escaped reversibly)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return _walk(value, escape_nul)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return _walk(value, unescape_nul)

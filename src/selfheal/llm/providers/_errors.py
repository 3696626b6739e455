"""Translating an SDK's HTTP failure into the provider error tree (``selfheal.llm.base``).

Every real provider ends up with the same facts — an HTTP status, a message, the
response headers — and the same rules apply to all of them:

    429                     -> RateLimited (with Retry-After / retry-after-ms when sent)
    408, 409, 5xx (and 529) -> ProviderUnavailable
    other 4xx               -> ProviderRejected

Messages pass through ``redact`` so an API key a server echoes back never reaches a
log line or an HTTP response of ours.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from selfheal.core.errors import LLMError
from selfheal.llm.base import ProviderRejected, ProviderTimeout, ProviderUnavailable, RateLimited

_REDACTED = "***"
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (and any long tail of it a server quotes) replaced by ***."""
    if not secret:
        return text
    text = text.replace(secret, _REDACTED)
    # Servers often quote a key partially ("sk-abc...wxyz"); hide any 8+ character piece.
    if len(secret) >= 12:
        for start in range(len(secret) - 7):
            piece = secret[start : start + 8]
            if piece in text:
                text = text.replace(piece, _REDACTED)
    return text


def retry_after_seconds(headers: Mapping[str, str] | None, body: Any = None) -> float | None:
    """The server's requested wait: ``retry-after-ms``, ``Retry-After`` (seconds or an HTTP
    date), or a Google ``RetryInfo.retryDelay`` ("1.5s") in the error body."""
    if headers:
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        ms = lowered.get("retry-after-ms")
        if ms is not None:
            try:
                return max(0.0, float(ms) / 1000)
            except ValueError:
                pass
        value = lowered.get("retry-after")
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None  # neither seconds nor a date: ignore it, back off as usual
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    return _google_retry_delay(body)


def _google_retry_delay(body: Any) -> float | None:
    if not isinstance(body, dict):
        return None
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _RETRY_DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def error_message(body: Any, fallback: str) -> str:
    """The human part of an error body (``{"error": {"message": ...}}`` and its relatives)."""
    for candidate in (body, body.get("error") if isinstance(body, dict) else None):
        if isinstance(candidate, dict) and isinstance(candidate.get("message"), str):
            return str(candidate["message"])
    return fallback


def status_error(
    provider: str,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    secret: str | None = None,
) -> LLMError:
    """The error of our tree for an HTTP ``status`` from ``provider``."""
    text = redact(
        f"{provider} returned HTTP {status}: {error_message(body, message)}"[:2000], secret
    )
    if status == 429:
        return RateLimited(text, retry_after=retry_after_seconds(headers, body))
    if status in (408, 409) or status >= 500:
        return ProviderUnavailable(text)
    return ProviderRejected(text)


@contextmanager
def mapped_sdk_errors(
    provider: str, sdk: ModuleType, *, timeout_s: float, where: object, secret: str | None
) -> Iterator[None]:
    """One mapping table for the SDKs that share an exception family (``openai`` and
    ``anthropic``: APITimeoutError, APIConnectionError, APIStatusError,
    APIResponseValidationError), as httpx's ``map_exceptions`` does for its transports."""
    try:
        yield
    except sdk.APITimeoutError as exc:
        raise ProviderTimeout(f"{provider} did not answer within {timeout_s:g} s") from exc
    except sdk.APIConnectionError as exc:
        raise ProviderUnavailable(
            redact(f"{provider} is unreachable at {where}: {exc}", secret)
        ) from exc
    except sdk.APIStatusError as exc:
        raise status_error(
            provider,
            exc.status_code,
            exc.message,
            headers=exc.response.headers,
            body=exc.body,
            secret=secret,
        ) from exc
    except sdk.APIResponseValidationError as exc:
        raise ProviderUnavailable(f"{provider} sent a reply the SDK could not read: {exc}") from exc

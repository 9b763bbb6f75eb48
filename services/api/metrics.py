"""Prometheus metrics of the API, in a registry of its own (one per app, so tests can build many).

``hangar_api_request_duration_seconds{method, route, status}`` is labelled with the route
*template* (``/v1/contracts/{contract_id}``), never the raw path, so its cardinality is bounded;
requests that match no route share ``route="unmatched"``.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "hangar_api_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.database_errors = Counter(
            "hangar_api_database_errors",
            "Requests answered 503 because of the database, by kind.",
            ("kind",),
            registry=self.registry,
        )
        self.connection_wait = Histogram(
            "hangar_api_connection_wait_seconds",
            "Time a request waited for its turn at the database connection pool.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.response_cache_lookups = Counter(
            "hangar_api_response_cache_lookups",
            "List queries answered from the response cache (hit), by a computation another "
            "request started (shared), or computed (miss).",
            ("result",),
            registry=self.registry,
        )

    def exposition(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Observes every HTTP request's latency once its response has been sent."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request_duration.labels(
                method=scope["method"], route=route, status=str(status)
            ).observe(time.perf_counter() - started)

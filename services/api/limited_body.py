"""The route class of the account routes: request bodies larger than a bound are refused
(413) before they are parsed, and a method a path does not serve gets 405 with an ``Allow``
naming every method of that path (Starlette names only those of the first route it found)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope, Send

from services.api.errors import error_response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class BodyTooLargeError(Exception):
    pass


#: Methods served per path by routes of this class (filled as the routes are declared).
_METHODS_OF_PATH: defaultdict[str, set[str]] = defaultdict(set)


class LimitedBodyRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        _METHODS_OF_PATH[self.path_format] |= self.methods or set()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(sorted(_METHODS_OF_PATH[self.path_format]))
            response = error_response(
                405, "method_not_allowed", "Method Not Allowed", headers={"Allow": allowed}
            )
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            limit = int(request.app.state.accounts.settings.max_request_body_bytes)
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                return _too_large(limit)
            received = 0
            receive = request.receive

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError
                return message

            try:
                return await handler(Request(request.scope, counting_receive))
            except Exception as error:
                # FastAPI turns an error while reading the body into a 400 "from" it
                if _caused_by_size(error):
                    return _too_large(limit)
                raise

        return limited


def _caused_by_size(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, BodyTooLargeError):
            return True
        error = error.__cause__ or error.__context__
    return False


def _too_large(limit: int) -> Response:
    return error_response(413, "body_too_large", f"the request body exceeds {limit} bytes")

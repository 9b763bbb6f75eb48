"""Routes documented by their endpoint's signature, served by a handler written for it.

FastAPI resolves an endpoint's parameters and dependencies generically on every request; for a
query-parameter model that costs far more than validating the model (~0.2 ms against a few
microseconds). A route built with ``served_by(handler)`` keeps everything FastAPI derives from
the endpoint (OpenAPI parameters, responses, route name) but answers requests with
``handler``, which parses the query with :func:`query_model` (FastAPI's semantics, the same
422 details) and calls the endpoint with what its dependencies would give.

Such a route is only right while its handler gives everything the endpoint asks for: building
one whose endpoint (or router) declares a dependency or parameter the handler does not stand in
for raises ``BypassedDependencyError``, so the app fails when it is built rather than skipping
a check or failing on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from functools import cache
from typing import Any, TypeVar, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
M = TypeVar("M", bound=BaseModel)

_SEQUENCES = (list, tuple, set, frozenset)


@cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name
        for name, field in model.model_fields.items()
        if get_origin(field.annotation) in _SEQUENCES
    )


def query_model(model: type[M], params: QueryParams) -> M:
    """``params`` validated into ``model`` as FastAPI does for ``Annotated[model, Query()]``:
    a list field takes every value of its name, another field the last one, an unknown name
    its value (its values when repeated) for the model's ``extra`` policy. Errors are a
    ``RequestValidationError`` located under ``query``."""
    lists = _list_fields(model)
    grouped: dict[str, list[str]] = {}
    for name, value in params.multi_items():
        grouped.setdefault(name, []).append(value)
    values: dict[str, Any] = {}
    for name, given in grouped.items():
        if name in lists:
            values[name] = given
        elif name in model.model_fields:
            values[name] = given[-1]
        else:
            values[name] = given[0] if len(given) == 1 else given
    try:
        return model.model_validate(values)
    except ValidationError as error:
        errors = [
            {**detail, "loc": ("query", *detail["loc"])}
            for detail in error.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


class BypassedDependencyError(TypeError):
    """A route served by its own handler asks for something the handler does not give."""


def _name(call: Callable[..., Any] | None) -> str:
    return getattr(call, "__qualname__", repr(call))


def _bypassed(
    dependant: Dependant, query: str, resolves: Mapping[str, Callable[..., Any]]
) -> list[str]:
    """What the endpoint of ``dependant`` asks for and a handler giving the request, the query
    model ``query`` and the dependencies ``resolves`` (called with the request alone) would
    not give."""
    missing: list[str] = []
    for sub in dependant.dependencies:
        if sub.name is None:
            missing.append(f"the route dependency {_name(sub.call)}")
        elif resolves.get(sub.name) is not sub.call:
            missing.append(f"the dependency {sub.name}={_name(sub.call)}")
        elif _bypassed(sub, "", {}):
            missing.append(f"what {_name(sub.call)} depends on")
    for kind, params in (
        ("path", dependant.path_params),
        ("header", dependant.header_params),
        ("cookie", dependant.cookie_params),
        ("body", dependant.body_params),
    ):
        missing.extend(f"the {kind} parameter {param.name}" for param in params)
    missing.extend(
        f"the query parameter {param.name}"
        for param in dependant.query_params
        if param.name != query
    )
    for special in (
        dependant.background_tasks_param_name,
        dependant.response_param_name,
        dependant.security_scopes_param_name,
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
    ):
        if special is not None:
            missing.append(f"the parameter {special}")
    return missing


def served_by(
    handler: Handler, *, query: str, resolves: Mapping[str, Callable[..., Any]]
) -> type[APIRoute]:
    """A route class whose requests ``handler`` answers (for ``route_class_override``).

    ``handler`` gives the endpoint the request, its query parameters validated into the model
    of the endpoint's parameter ``query``, and for each ``resolves`` item the value of that
    dependency (the same function, called with the request). Building the route raises
    ``BypassedDependencyError`` when the endpoint, the route or a router including it declares
    anything else."""

    class DirectRoute(APIRoute):
        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            super().__init__(path, endpoint, **kwargs)
            missing = _bypassed(self.dependant, query, resolves)
            if missing:
                raise BypassedDependencyError(
                    f"{path} is answered by {_name(handler)}, which skips FastAPI's parameter "
                    f"resolution and would not give {', '.join(missing)}: give it in the "
                    "handler and name it in served_by(), or route the endpoint the usual way"
                )

        def get_route_handler(self) -> Handler:
            return handler

    return DirectRoute

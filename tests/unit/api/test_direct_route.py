"""The list route's own request handling: FastAPI's query parsing, and a route that refuses to
be built when its endpoint asks for what the handler does not give."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams
from starlette.responses import Response

from services.api.dependencies import ApiState, StateDep, get_state
from services.api.direct_route import BypassedDependencyError, query_model, served_by
from services.api.schemas import ContractListQuery


def _fastapi_parsing() -> FastAPI:
    """The generic FastAPI route the list route's own parsing stands in for."""
    app = FastAPI()

    @app.get("/q")
    async def parsed(query: Annotated[ContractListQuery, Query()]) -> Response:
        return Response(query.model_dump_json(), media_type="application/json")

    async def refused(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return JSONResponse(_details(error), status_code=422)

    app.add_exception_handler(RequestValidationError, refused)
    return app


def _details(error: RequestValidationError) -> list[dict[str, object]]:
    return [
        {"loc": list(detail["loc"]), "msg": detail["msg"], "type": detail["type"]}
        for detail in error.errors()
    ]


@pytest.mark.parametrize(
    "query_string",
    [
        "",
        "region_id=10000002",
        "region_id=3&region_id=1&region_id=3&type=loan&type=auction",
        "limit=5&limit=7",  # the last value of a repeated scalar
        "status=all&sort=price&order=asc&count=true&include_requested=1",
        "min_price=1e3&max_price=1500000.00&min_volume=.5&max_volume=1e6",
        "issued_after=2025-01-01&issued_before=2025-01-02T00:00:00%2B02:00",
        "title=100%25&cursor=abc.def",
        "limit=0&region_id=x&region_id=-1",
        "limit=",
        "min_price=10&max_price=5",
        "regionid=1",
        "regionid=1&regionid=2&other=x",
        "sort=title&order=up&status=expired",
        "issued_after=1735689600",
        "count=maybe&include_requested=",
        "region_id=" + "&region_id=".join(str(n) for n in range(1, 102)),
        "title=",
    ],
)
async def test_the_list_route_parses_its_query_as_fastapi_does(query_string: str) -> None:
    transport = httpx.ASGITransport(app=_fastapi_parsing())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        expected = await client.get(f"/q?{query_string}")
    if expected.status_code == 422:
        with pytest.raises(RequestValidationError) as refused:
            query_model(ContractListQuery, QueryParams(query_string))
        assert _details(refused.value) == expected.json()
    else:
        assert expected.status_code == 200, expected.text
        parsed = query_model(ContractListQuery, QueryParams(query_string))
        assert parsed.model_dump_json() == expected.text


# --- a dependency the handler would skip fails the app's construction ----------------------


async def _current_user(authorization: Annotated[str, Header()]) -> str:
    return authorization


UserDep = Annotated[str, Depends(_current_user)]


async def _state_for_user(request: Request, user: UserDep) -> ApiState:
    raise AssertionError("never called")


async def _handler(request: Request) -> Response:
    raise AssertionError("never called: the route is never built")


def _direct_route(router: APIRouter, endpoint: object) -> None:
    assert callable(endpoint)
    router.add_api_route(
        "/v1/contracts",
        endpoint,
        route_class_override=served_by(_handler, query="query", resolves={"state": get_state}),
    )


def test_a_router_dependency_over_a_direct_route_fails_when_the_route_is_built() -> None:
    async def listing(
        request: Request, query: Annotated[ContractListQuery, Query()], state: StateDep
    ) -> Response:
        raise AssertionError("never called")

    router = APIRouter(dependencies=[Depends(_current_user)])
    with pytest.raises(BypassedDependencyError, match="route dependency _current_user"):
        _direct_route(router, listing)


def test_a_dependency_added_to_the_endpoint_fails_when_the_route_is_built() -> None:
    async def listing(
        request: Request,
        query: Annotated[ContractListQuery, Query()],
        state: StateDep,
        user: UserDep,
    ) -> Response:
        raise AssertionError("never called")

    with pytest.raises(BypassedDependencyError, match="dependency user=_current_user"):
        _direct_route(APIRouter(), listing)


def test_another_parameter_or_dependency_function_fails_when_the_route_is_built() -> None:
    async def listing(
        request: Request,
        query: Annotated[ContractListQuery, Query()],
        state: Annotated[ApiState, Depends(_state_for_user)],
        page_size: int = 10,
        trace: Annotated[str | None, Header()] = None,
    ) -> Response:
        raise AssertionError("never called")

    with pytest.raises(BypassedDependencyError) as refused:
        _direct_route(APIRouter(), listing)
    message = str(refused.value)
    assert "the dependency state=_state_for_user" in message
    assert "the query parameter page_size" in message
    assert "the header parameter trace" in message


def test_what_the_handler_gives_builds() -> None:
    async def listing(
        request: Request, query: Annotated[ContractListQuery, Query()], state: StateDep
    ) -> Response:
        raise AssertionError("never called")

    router = APIRouter()
    _direct_route(router, listing)
    assert len(router.routes) == 1

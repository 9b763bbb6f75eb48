"""The API against its own OpenAPI document, with schemathesis.

Schemathesis loads ``/openapi.json`` from the app (in process, through ASGI, inside the app's
lifespan) and sends requests derived from the document to every operation: its boundary and
example values (the "coverage" cases: limits, empty and missing values, wrong types, other
HTTP methods) and then Hypothesis-generated ones, valid and invalid. Every response is checked:
no 5xx, a documented status code, content type and headers, a body matching the documented
schema, invalid input refused with 4xx, valid input accepted. The database is seeded so that
lists, details, items and bids are not empty and the documented examples find rows.

Bounded in time for CI: the boundary cases are a fixed set (~500 requests), the generated ones
``MAX_EXAMPLES`` per operation and mode; both tests take seconds.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from schemathesis import APIOperation, Case, CheckContext, GenerationMode, Response
from schemathesis.core.result import Err
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.api.app import create_app
from tests.integration.test_api_support import (
    AMARR_VIII,
    BASE_TIME,
    DOMAIN,
    THE_FORGE,
    api_settings,
    contract,
    item,
    seed,
)

#: Generated requests per operation and generation mode (valid, invalid).
#: ``HANGAR_TEST_SCHEMATHESIS_EXAMPLES`` asks for more (a deeper run outside CI).
MAX_EXAMPLES = int(os.environ.get("HANGAR_TEST_SCHEMATHESIS_EXAMPLES", "200"))
DOCUMENTED_CONTRACT = 190319637  # the id the OpenAPI examples use
RAVEN = 638
VELDSPAR = 1230
PLEX = 44992

Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Operation]


def _world() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Contracts of every type and status, with NULL sort values, items of both kinds, bids."""
    contracts = [
        contract(
            DOCUMENTED_CONTRACT,
            type="auction",
            price=Decimal("150000000.00"),
            buyout=Decimal("250000000.00"),
            volume=15000.0,
            title="Raven, fitted",
        ),
        contract(2, type="courier", price=None, reward=Decimal("5000000.00"), volume=None),
        contract(3, status="gone", region_id=DOMAIN, start_location_id=AMARR_VIII),
        contract(4, title=None, days_to_complete=None, for_corporation=None),
        contract(2**63 - 1, type="loan", price=Decimal("99999999999999999.99"), volume=0.01),
        *(
            contract(
                10 + index,
                region_id=(THE_FORGE, DOMAIN, 10000030)[index % 3],
                type=("item_exchange", "auction", "courier")[index % 3],
                status="gone" if index % 4 == 0 else "outstanding",
                price=None if index % 7 == 0 else Decimal(index * 1234567) / 100,
                reward=Decimal(index * 1000),
                volume=None if index % 5 == 0 else index * 2.5,
                title=f"WTS lot {index}" if index % 2 else "",
            )
            for index in range(40)
        ),
    ]
    items = [
        item(1, DOCUMENTED_CONTRACT, RAVEN),
        item(2, DOCUMENTED_CONTRACT, PLEX, quantity=5, is_included=False, item_id=None),
        item(3, 2, VELDSPAR, quantity=1000),
        item(
            4,
            3,
            RAVEN,
            is_blueprint_copy=True,
            material_efficiency=10,
            time_efficiency=20,
            runs=5,
        ),
        *(item(100 + index, 10 + index, (RAVEN, PLEX, 11399)[index % 3]) for index in range(40)),
    ]
    bids = [
        {
            "bid_id": 1234567,
            "contract_id": DOCUMENTED_CONTRACT,
            "amount": Decimal("160000000.00"),
            "date_bid": BASE_TIME + timedelta(hours=2),
        },
        {
            "bid_id": 1234568,
            "contract_id": DOCUMENTED_CONTRACT,
            "amount": Decimal("155000000.50"),
            "date_bid": BASE_TIME + timedelta(hours=1),
        },
    ]
    return contracts, items, bids


def _inexpressible(detail: dict[str, Any]) -> bool:
    """A refusal the OpenAPI document cannot describe: a range whose bounds are swapped (one
    check over two parameters), a cursor that this API did not issue for this query, or a
    place search without two letters or digits in a row (a Unicode class that JSON Schema's
    patterns cannot spell the same way in every engine)."""
    if detail.get("type") == "invalid_cursor":
        return True
    if detail.get("location") == ["query", "q"] and "two letters or digits" in str(
        detail.get("message")
    ):
        return True
    return detail.get("location") == ["query"] and "empty range" in str(detail.get("message"))


def valid_input_is_accepted(ctx: CheckContext, response: Response, case: AnyCase) -> bool | None:
    """Schemathesis's ``positive_data_acceptance`` but for what no schema can express:
    a schema-valid request may be refused (422) only for an empty range or a foreign cursor."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code != 422:
        return None
    details = response.json()["error"]["details"]
    if details and all(_inexpressible(detail) for detail in details):
        return None
    raise AssertionError(f"a schema-valid request was refused: {response.text}")


def _validate(case: AnyCase) -> None:
    case.call_and_validate(
        excluded_checks=[positive_data_acceptance], additional_checks=[valid_input_is_accepted]
    )


def _operations(app: Any) -> Iterator[Operation]:
    """Every operation of the app's document; the lifespan schemathesis started ends after."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()  # the document itself is broken
            yield result.ok()
    finally:
        # Schemathesis started the lifespan on its own event loop thread: end it (the engine is
        # disposed there) before the test's database is dropped.
        asgi.shutdown_lifespans()


def _boundary_failures(app: Any) -> list[str]:
    failures = []
    for operation in _operations(app):
        schema = operation.schema
        cases = schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
        )
        for case in cases:
            try:
                _validate(case)
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.label}: {error}")
    return failures


def _generated_failures(app: Any) -> list[str]:
    failures = []
    for operation in _operations(app):
        modes = [GenerationMode.POSITIVE]
        if any(True for _ in operation.iter_parameters()):  # else nothing invalid to generate
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            def check(case: AnyCase) -> None:
                _validate(case)

            try:
                check()
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.label} ({mode.value}): {error}")
    return failures


@pytest.fixture
async def seeded_app(database_url: str) -> FastAPI:
    contracts, items, bids = _world()
    sweeps = [
        {
            "region_id": THE_FORGE,
            "generation": BASE_TIME,
            "swept_at": BASE_TIME + timedelta(minutes=2),
            "contract_count": 30,
        },
        {
            "region_id": 10000001,
            "generation": BASE_TIME,
            "swept_at": BASE_TIME + timedelta(minutes=3),
            "contract_count": 0,
        },
    ]
    await seed(database_url, contracts, items, bids, sweeps)
    return create_app(api_settings(database_url))


async def test_boundary_and_example_values_conform(seeded_app: FastAPI) -> None:
    failures = await asyncio.to_thread(_boundary_failures, seeded_app)
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(600)  # the account routes' bodies are costly to generate
async def test_generated_requests_conform(seeded_app: FastAPI) -> None:
    failures = await asyncio.to_thread(_generated_failures, seeded_app)
    assert not failures, "\n\n".join(failures)

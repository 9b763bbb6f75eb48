"""docs/openapi.json and docs/asyncapi.json are what the code generates today."""

from __future__ import annotations

import json

import pytest

from services.documents import DOCS_DIR, generated_documents


@pytest.mark.parametrize("name", ["openapi.json", "asyncapi.json", "CONFIGURATION.md"])
def test_generated_document_is_committed_and_current(name: str) -> None:
    committed = (DOCS_DIR / name).read_text()
    assert committed == generated_documents()[name], f"docs/{name} is stale: run hangar-bay docs"


def test_asyncapi_describes_every_message_kind() -> None:
    document = json.loads(generated_documents()["asyncapi.json"])
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) >= {
        "ContractsBatch",
        "RegionSweep",
        "ContractsDelisted",
        "BidsBatch",
        "DeadLetter",
    }
    schemas = document["components"]["schemas"]
    assert "schema_version" in schemas["ContractsBatch"]["properties"]


def test_openapi_lists_the_public_routes() -> None:
    document = json.loads(generated_documents()["openapi.json"])
    assert {"/v1/contracts", "/v1/contracts/{contract_id}", "/v1/regions"} <= set(document["paths"])

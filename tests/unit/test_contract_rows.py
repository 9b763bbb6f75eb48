"""The persister's fast validation of contracts batches must be the models' validation:
same schema, same verdict on every input, same COPY rows."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from common.db import CONTRACT_COLUMNS, ITEM_COLUMNS
from common.messages import ContractsBatch, parse_message
from services.persister.contract_rows import (
    ItemOwnershipError,
    contract_rows,
    contracts_batch_fields,
    contracts_table_rows,
    rows_of_batch_fields,
)
from tests.conftest import SAMPLES_DIR
from tests.faults.test_bad_input import HOSTILE_CONTRACT_ENTRIES, HOSTILE_ITEM_ENTRIES
from tests.support import factories as f

Json = Any


def _real_batch() -> dict[str, Json]:
    """Every real contract of the samples, each real item list given to its contract."""
    contracts: list[dict[str, Json]] = []
    for page in sorted(SAMPLES_DIR.glob("*__contracts-*.json")):
        contracts.extend(orjson.loads(page.read_bytes()))
    items = {
        int(path.stem.rsplit("-", 1)[1]): orjson.loads(path.read_bytes())
        for path in sorted(SAMPLES_DIR.glob("*__items-*.json"))
    }
    for contract in contracts:
        contract["items"] = items.get(contract["contract_id"], [])
    assert any(c["items"] for c in contracts)
    return {
        "kind": "contracts",
        "schema_version": 1,
        "region_id": 10000002,
        "fetched_at": "2026-11-23T10:00:00Z",
        "source": {"page": 1, "last_modified": "2026-11-23T09:58:00Z", "etag": '"e"'},
        "contracts": contracts,
    }


def _factory_batch() -> dict[str, Json]:
    batch = f.batch([f.contract(1, items=3), f.contract(2, items=0, type_="courier")])
    parsed: dict[str, Json] = orjson.loads(batch.to_json())
    return parsed


def _without_titles(schema: Json) -> Json:
    if isinstance(schema, dict):
        return {
            key.removesuffix("Fields"): _without_titles(value)
            for key, value in schema.items()
            if key not in {"title", "default", "required", "description"}
        }
    if isinstance(schema, list):
        return [_without_titles(value) for value in schema]
    if isinstance(schema, str):
        return schema.removesuffix("Fields")
    return schema


def test_the_mirror_has_the_models_schema() -> None:
    model = ContractsBatch.model_json_schema()
    mirror = contracts_batch_fields.json_schema()
    assert _without_titles(mirror) == _without_titles(model)
    assert set(mirror["required"]) == set(model["required"]) | {"kind", "schema_version"}
    for name, definition in model["$defs"].items():
        assert set(mirror["$defs"][f"{name}Fields"].get("required", [])) == set(
            definition.get("required", [])
        ), name


def _verdicts(body: bytes) -> tuple[Any, Any]:
    """(fields or the error type, model or the error type) of one body."""
    try:
        fields: Any = contracts_batch_fields.validate_json(body)
    except ValidationError:
        fields = ValidationError
    try:
        model: Any = parse_message(body)
    except ValidationError:
        model = ValidationError
    return fields, model


def _assert_same(body: bytes) -> None:
    fields, model = _verdicts(body)
    if model is ValidationError:
        assert fields is ValidationError
        return
    assert isinstance(model, ContractsBatch)
    assert fields is not ValidationError, "the mirror refused what the models accept"
    try:
        expected: Any = contract_rows([model])
    except ItemOwnershipError:
        expected = ItemOwnershipError
    try:
        actual: Any = rows_of_batch_fields(fields)
    except ItemOwnershipError:
        actual = ItemOwnershipError
    assert actual == expected


@pytest.mark.parametrize("batch", [_real_batch, _factory_batch], ids=["real ESI", "factory"])
def test_valid_batches_give_the_same_rows(batch: Callable[[], dict[str, Json]]) -> None:
    body = orjson.dumps(batch())
    fields, model = _verdicts(body)
    assert isinstance(model, ContractsBatch)
    assert fields is not ValidationError
    rows = rows_of_batch_fields(fields)
    assert rows == contract_rows([model])
    assert len(rows.contracts) == len(model.contracts)


@pytest.mark.parametrize("mutate", HOSTILE_CONTRACT_ENTRIES)
def test_hostile_contract_entries_get_the_same_verdict(mutate: Callable[[Json], None]) -> None:
    batch = _real_batch()
    mutate(batch["contracts"][1])
    _assert_same(_dumps(batch))


@pytest.mark.parametrize("mutate", HOSTILE_ITEM_ENTRIES)
def test_hostile_item_entries_get_the_same_verdict(mutate: Callable[[Json], None]) -> None:
    batch = _real_batch()
    contract = next(c for c in batch["contracts"] if c["items"])
    mutate(contract["items"][0])
    _assert_same(_dumps(batch))


def _dumps(value: Json) -> bytes:
    import json  # noqa: PLC0415 - orjson refuses integers beyond 64 bits

    return json.dumps(value).encode()


MESSAGE_MUTATIONS: list[Any] = [
    pytest.param(lambda b: b.update(schema_version=2), id="schema version 2"),
    pytest.param(lambda b: b.pop("kind"), id="no kind"),
    pytest.param(lambda b: b.update(kind="sweep"), id="another kind"),
    pytest.param(lambda b: b.update(contracts=[]), id="no contracts"),
    pytest.param(lambda b: b["source"].pop("last_modified"), id="no generation"),
    pytest.param(lambda b: b["source"].update(page=0), id="page 0"),
    pytest.param(lambda b: b.update(fetched_at="2026-11-23T10:00:00"), id="naive time"),
    pytest.param(lambda b: b.update(region_id=-1), id="negative region"),
    pytest.param(lambda b: b.update(unknown_field=[1, 2]), id="unknown field"),
    pytest.param(lambda b: b["contracts"][0].pop("items"), id="contract without items"),
    pytest.param(
        lambda b: b["contracts"].append(copy.deepcopy(b["contracts"][0])), id="duplicate contract"
    ),
    pytest.param(
        lambda b: b["contracts"][1].update(items=copy.deepcopy(b["contracts"][0]["items"])),
        id="an item claimed by two contracts",
    ),
    pytest.param(
        lambda b: b["contracts"][0]["items"].append(copy.deepcopy(b["contracts"][0]["items"][0])),
        id="the same item twice",
    ),
]


@pytest.mark.parametrize("mutate", MESSAGE_MUTATIONS)
def test_message_level_mutations_get_the_same_verdict(mutate: Callable[[Json], None]) -> None:
    batch = _factory_batch()
    mutate(batch)
    _assert_same(_dumps(batch))


def test_other_messages_are_refused_by_the_mirror() -> None:
    for body in (
        f.sweep([1, 2], gen=1).to_json(),
        f.bids(1, [5, 6]).to_json(),
        b'{"kind":"sweep"}',
        b"[]",
        b"not json",
    ):
        with pytest.raises(ValidationError):
            contracts_batch_fields.validate_json(body)


def test_table_rows_are_what_the_persister_keeps_of_a_new_contract() -> None:
    batch = ContractsBatch.model_validate(_factory_batch())
    contracts, items = contracts_table_rows([batch])
    first = dict(zip(CONTRACT_COLUMNS, contracts[0], strict=True))
    source = batch.contracts[0]
    assert first["contract_id"] == source.contract_id
    assert first["region_id"] == batch.region_id
    assert first["price"] == (None if source.price is None else Decimal(repr(source.price)))
    assert first["status"] == "outstanding"
    assert first["first_seen_at"] == first["last_seen_at"] == batch.fetched_at
    assert first["source_last_modified"] == batch.source.last_modified
    assert first["gone_at"] is None
    assert len(items) == sum(len(c.items) for c in batch.contracts)
    assert all(len(i) == len(ITEM_COLUMNS) for i in items)

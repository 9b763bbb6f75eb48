"""ESI payload parsing against real samples, and the message wire format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from common.esi_models import contract_page, item_page
from common.messages import (
    ContractsBatch,
    ContractWithItems,
    EsiSource,
    RegionSweep,
    parse_message,
)
from common.subjects import Subjects, event_region
from tests.conftest import SAMPLES_DIR


def _sample(name: str) -> bytes:
    return (SAMPLES_DIR / name).read_bytes()


def _samples(kind: str) -> list[Path]:
    return sorted(SAMPLES_DIR.glob(f"*__{kind}-*.json"))


def test_every_real_contract_page_parses() -> None:
    pages = _samples("contracts")
    assert len(pages) == 4
    for page in pages:
        raw = orjson.loads(page.read_bytes())
        parsed = contract_page.validate_json(page.read_bytes())
        assert [c.contract_id for c in parsed] == [c["contract_id"] for c in raw]


def test_optional_fields_are_none_when_omitted() -> None:
    contracts = {
        c.contract_id: c
        for c in contract_page.validate_json(
            _sample("everef__ScrapePublicContractsTest__contracts-10000001-2.json")
        )
    }
    auction = contracts[190319637]
    assert auction.type == "auction"
    assert auction.buyout == 669000000
    assert auction.collateral is None
    assert auction.for_corporation is None
    assert auction.volume == pytest.approx(0.22000000000000006)


def test_float_noise_volume_is_kept_exactly() -> None:
    courier = contract_page.validate_json(
        _sample("everef__ScrapePublicContractsTest__contracts-10000001-1.json")
    )[0]
    assert courier.contract_id == 190762629
    assert courier.volume == 274.4699999999999


def test_blueprint_original_has_no_runs() -> None:
    items = item_page.validate_json(_sample("esi-issues_1403__items-212609552.json"))
    assert items
    assert all(i.runs is None and i.is_blueprint_copy is None for i in items)
    assert all(i.material_efficiency is not None for i in items)


def test_blueprint_copies_carry_runs() -> None:
    items = item_page.validate_json(
        _sample("everef__ScrapePublicContractsTest__items-190319637.json")
    )
    assert len(items) == 22
    assert all(i.is_blueprint_copy is True and i.runs == 2 for i in items)


def test_requested_item_has_no_item_id() -> None:
    items = item_page.validate_json(
        _sample("everef__ScrapePublicContractsTest__items-189863474.json")
    )
    assert [i.is_included for i in items] == [False]
    assert items[0].item_id is None


def test_unknown_fields_and_enum_values_are_accepted() -> None:
    entry = orjson.loads(_sample("everef__ScrapePublicContractsTest__contracts-10000002-1.json"))[0]
    entry["type"] = "rental"
    entry["brand_new_field"] = 1
    (parsed,) = contract_page.validate_python([entry])
    assert parsed.type == "rental"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contract_id", -5),
        ("contract_id", 2**64),
        ("price", "lots"),
        ("type", "DROP TABLE"),
        ("date_issued", "yesterday"),
        ("title", "x" * 5000),
    ],
)
def test_hostile_contract_fields_are_rejected(field: str, value: object) -> None:
    entry = orjson.loads(_sample("everef__ScrapePublicContractsTest__contracts-10000002-1.json"))[0]
    entry[field] = value
    with pytest.raises(ValidationError):
        contract_page.validate_python([entry])


def test_missing_required_field_is_rejected() -> None:
    entry = orjson.loads(_sample("everef__ScrapePublicContractsTest__contracts-10000002-1.json"))[0]
    del entry["issuer_id"]
    with pytest.raises(ValidationError):
        contract_page.validate_python([entry])


def _batch() -> ContractsBatch:
    contract = contract_page.validate_json(
        _sample("everef__ScrapePublicContractsTest__contracts-10000001-2.json")
    )[0]
    items = item_page.validate_json(
        _sample("everef__ScrapePublicContractsTest__items-190319637.json")
    )
    return ContractsBatch(
        region_id=10000001,
        fetched_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        source=EsiSource(
            page=2, last_modified=datetime(2026, 11, 1, 11, 50, tzinfo=UTC), etag='"abc"'
        ),
        contracts=[ContractWithItems(**contract.model_dump(), items=items)],
    )


def test_batch_round_trips_and_omits_absent_fields() -> None:
    batch = _batch()
    wire = batch.to_json()
    assert b"null" not in wire
    assert b'"schema_version":1' in wire
    assert parse_message(wire) == batch


def test_message_ids_are_deterministic() -> None:
    assert _batch().message_id() == _batch().message_id()
    sweep = RegionSweep(
        region_id=10000002,
        generation=datetime(2026, 11, 1, 11, 50, tzinfo=UTC),
        swept_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        pages=1,
        contract_ids=[1, 2],
    )
    assert sweep.message_id() == "sweep:10000002:" + str(int(sweep.generation.timestamp()))


def test_unknown_schema_version_is_rejected() -> None:
    body = orjson.loads(_batch().to_json())
    body["schema_version"] = 99
    with pytest.raises(ValidationError):
        parse_message(orjson.dumps(body))


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_message(b'{"kind": "launch_missiles", "schema_version": 1}')


@pytest.mark.parametrize("prefix", ["hangar", "a.b", "t5828f1d6dbae"])
def test_event_subjects_name_their_kind_and_region(prefix: str) -> None:
    subjects = Subjects(prefix)
    assert event_region(subjects.contracts(10000002, "k1")) == ("contracts", 10000002)
    assert event_region(subjects.sweep(10000043)) == ("sweep", 10000043)
    assert event_region(subjects.delisted(10000030, "1700000000")) == ("delisted", 10000030)
    assert event_region(subjects.bids(10000002, "k2")) == ("bids", 10000002)
    for other in (subjects.dead_letter, f"{prefix}.events.sweep.x", "sweep.1", "x.events.y.1.k"):
        assert event_region(other) is None

"""The persister's hot path: a contracts batch straight from JSON to COPY rows; the one place
where contract and item rows are built (columns derived from the tables in :mod:`common.db`).

Validating a batch into pydantic models costs 2.5x more than validating the very same schema
into plain dicts (model instances are expensive: ~170,000 of them for a Forge-sized load), and
the persister only needs the values. So the schema of :class:`ContractsBatch` is mirrored,
field by field and constraint by constraint, as ``TypedDict`` types built *from the models*
(never written by hand, so they cannot drift), and a batch is validated into dicts. Anything
the mirror refuses goes through :func:`common.messages.parse_message`, whose error is the
reason a dead letter carries.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, NotRequired, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from sqlalchemy import Numeric
from typing_extensions import TypedDict

from common.db import (
    CONTRACT_BOOKKEEPING_COLUMNS,
    CONTRACT_COLUMNS,
    CONTRACT_MESSAGE_COLUMNS,
    ITEM_COLUMNS,
    STATUS_OUTSTANDING,
    Contract,
)
from common.messages import ContractsBatch

Fields = Mapping[str, Any]


def _mirror(annotation: Any, mirrors: dict[type[BaseModel], Any]) -> Any:
    """``annotation`` with every pydantic model in it replaced by its TypedDict mirror."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return typed_dict_mirror(annotation, mirrors)
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is None or not arguments:
        return annotation
    mirrored = tuple(_mirror(argument, mirrors) for argument in arguments)
    if mirrored == arguments:
        return annotation
    if origin is Annotated:
        return Annotated[(mirrored[0], *annotation.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[mirrored]  # noqa: UP007 - built from a tuple of types
    if origin is list:
        return types.GenericAlias(list, (mirrored[0],))
    raise TypeError(f"cannot mirror {annotation!r}")


def _field_type(info: FieldInfo, mirrors: dict[type[BaseModel], Any]) -> Any:
    annotation = _mirror(info.annotation, mirrors)
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return annotation


def typed_dict_mirror(
    model: type[BaseModel],
    mirrors: dict[type[BaseModel], Any] | None = None,
    required: frozenset[str] = frozenset(),
) -> Any:
    """A TypedDict with ``model``'s fields, types and constraints; a field with a default is
    ``NotRequired`` (absent from the dict when the message omits it) unless named in
    ``required``. Unknown keys are ignored, as the models ignore them."""
    mirrors = {} if mirrors is None else mirrors
    if model in mirrors:
        return mirrors[model]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        field_type = _field_type(info, mirrors)
        fields[name] = (
            field_type if info.is_required() or name in required else NotRequired[field_type]
        )
    mirror = TypedDict(f"{model.__name__}Fields", fields)  # type: ignore[misc]
    mirrors[model] = mirror
    return mirror


#: ``kind`` is the discriminator of the message union: required, as parse_message requires it.
contracts_batch_fields: TypeAdapter[Fields] = TypeAdapter(
    typed_dict_mirror(ContractsBatch, required=frozenset({"kind", "schema_version"}))
)


class ItemOwnershipError(ValueError):
    """Two contracts claim one item record (item records belong to one contract for ever)."""


@dataclass(frozen=True)
class ContractRows:
    """The COPY rows of some contracts batches: each contract once, items once each."""

    contracts: Sequence[tuple[object, ...]]
    items: Sequence[tuple[object, ...]]
    region_ids: frozenset[int] = frozenset()


#: The staging tables' columns (``repository``): money as text, plus when the batch was
#: fetched and the ESI generation of its listing.
INCOMING_CONTRACT_COLUMNS = (*CONTRACT_MESSAGE_COLUMNS, "seen_at", "source_last_modified")
INCOMING_ITEM_COLUMNS = ITEM_COLUMNS
MONEY_COLUMNS = frozenset(
    column.name for column in Contract.__table__.columns if isinstance(column.type, Numeric)
)
_REGION = CONTRACT_MESSAGE_COLUMNS.index("region_id")
_MONEY = tuple(i for i, name in enumerate(CONTRACT_MESSAGE_COLUMNS) if name in MONEY_COLUMNS)
_ITEM_CONTRACT = ITEM_COLUMNS.index("contract_id")


def money_text(value: float | None) -> str | None:
    """The shortest text that reads back as the same float: PostgreSQL parses it into
    ``numeric`` far faster than asyncpg encodes a ``Decimal``."""
    return None if value is None else repr(value)


def incoming_contract_row(
    contract: Fields, region_id: int, seen_at: object, last_modified: object
) -> tuple[object, ...]:
    """A contract's row of ``INCOMING_CONTRACT_COLUMNS`` (an omitted field is null)."""
    values: list[object] = list(map(contract.get, CONTRACT_MESSAGE_COLUMNS))
    values[_REGION] = region_id
    for index in _MONEY:
        values[index] = money_text(values[index])  # type: ignore[arg-type]
    values += (seen_at, last_modified)
    return tuple(values)


def item_row(item: Fields, contract_id: int) -> tuple[object, ...]:
    """An item's row of ``ITEM_COLUMNS``."""
    values: list[object] = list(map(item.get, ITEM_COLUMNS))
    values[_ITEM_CONTRACT] = contract_id
    return tuple(values)


def rows_of_batch_fields(batch: Fields) -> ContractRows:
    """COPY rows of a validated batch: each contract once, each item once; raises
    :class:`ItemOwnershipError` when two contracts of the batch claim one item record."""
    region_id, fetched_at = batch["region_id"], batch["fetched_at"]
    last_modified = batch["source"]["last_modified"]
    contracts: list[tuple[object, ...]] = []
    items: list[tuple[object, ...]] = []
    seen_contracts: set[int] = set()
    owners: dict[int, int] = {}
    for c in batch["contracts"]:
        contract_id = c["contract_id"]
        if contract_id in seen_contracts:
            continue  # one generation per batch: the first copy is as good as any
        seen_contracts.add(contract_id)
        contracts.append(incoming_contract_row(c, region_id, fetched_at, last_modified))
        for i in c.get("items") or ():
            record_id = i["record_id"]
            owner = owners.get(record_id)
            if owner is not None:
                if owner != contract_id:
                    raise ItemOwnershipError(
                        f"item record {record_id} is claimed by contracts {owner} and {contract_id}"
                    )
                continue  # the same item twice in one contract
            owners[record_id] = contract_id
            items.append(item_row(i, contract_id))
    return ContractRows(contracts, items, frozenset({region_id}))


def _newest_contracts(batches: Iterable[ContractsBatch]) -> dict[int, ContractsBatch]:
    """Per contract, the batch with the newest ESI generation that brings it."""
    newest: dict[int, ContractsBatch] = {}
    for batch in batches:
        for contract in batch.contracts:
            held = newest.get(contract.contract_id)
            if held is None or held.source.last_modified < batch.source.last_modified:
                newest[contract.contract_id] = batch
    return newest


def contract_rows(batches: Sequence[ContractsBatch]) -> ContractRows:
    """COPY rows of parsed batches, each contract from its newest batch; raises
    :class:`ItemOwnershipError` when two contracts claim one item record."""
    newest = _newest_contracts(batches)
    rows = [
        rows_of_batch_fields(
            {
                "region_id": batch.region_id,
                "fetched_at": batch.fetched_at,
                "source": {"last_modified": batch.source.last_modified},
                "contracts": [
                    c.model_dump() for c in batch.contracts if newest[c.contract_id] is batch
                ],
            }
        )
        for batch in {id(b): b for b in newest.values()}.values()
    ]
    contracts = [row for r in rows for row in r.contracts]
    items: list[tuple[object, ...]] = []
    owners: dict[int, int] = {}
    for r in rows:
        for item in r.items:
            record_id, contract_id = item[0], item[_ITEM_CONTRACT]
            owner = owners.setdefault(record_id, contract_id)  # type: ignore[arg-type]
            if owner != contract_id:
                raise ItemOwnershipError(
                    f"item record {record_id} is claimed by contracts {owner} and {contract_id}"
                )
            items.append(item)
    return ContractRows(contracts, items, frozenset(b.region_id for b in newest.values()))


def contracts_table_rows(
    batches: Sequence[ContractsBatch],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Rows of ``CONTRACT_COLUMNS`` and ``ITEM_COLUMNS`` as the persister would leave them
    after applying ``batches`` into an empty database (outstanding, first seen when fetched),
    money as ``Decimal``: for COPY straight into the tables (benchmarks, tests)."""
    rows = contract_rows(batches)
    width = len(CONTRACT_MESSAGE_COLUMNS)
    money = {CONTRACT_MESSAGE_COLUMNS.index(name) for name in MONEY_COLUMNS}
    contracts = []
    for row in rows.contracts:
        values = [
            Decimal(value) if i in money and value is not None else value  # type: ignore[arg-type]
            for i, value in enumerate(row[:width])
        ]
        seen_at, last_modified = row[width:]
        bookkeeping = {
            "status": STATUS_OUTSTANDING,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
            "gone_at": None,
            "source_last_modified": last_modified,
        }
        values += [bookkeeping[name] for name in CONTRACT_BOOKKEEPING_COLUMNS]
        contracts.append(tuple(values))
    assert len(contracts[0] if contracts else CONTRACT_COLUMNS) == len(CONTRACT_COLUMNS)
    return contracts, list(rows.items)


def contract_count(batch: Fields) -> int:
    contracts: Sequence[Any] = batch["contracts"]
    return len(contracts)

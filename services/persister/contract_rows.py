"""The persister's hot path: a contracts batch straight from JSON to COPY rows.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, NotRequired, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict

from common.messages import ContractsBatch
from services.persister.repository import ContractRows, ItemOwnershipError, money_text

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


def rows_of_batch_fields(batch: Fields) -> ContractRows:
    """COPY rows of a validated batch (see ``repository.INCOMING_*_COLUMNS``): each contract
    once, each item once; raises :class:`ItemOwnershipError` when two contracts of the batch
    claim one item record."""
    region_id, fetched_at = batch["region_id"], batch["fetched_at"]
    last_modified = batch["source"]["last_modified"]
    contracts: list[tuple[object, ...]] = []
    items: list[tuple[object, ...]] = []
    seen_contracts: set[int] = set()
    owners: dict[int, int] = {}
    get: Callable[[Fields, str], Any] = dict.get  # type: ignore[assignment]
    for c in batch["contracts"]:
        contract_id = c["contract_id"]
        if contract_id in seen_contracts:
            continue  # one generation per batch: the first copy is as good as any
        seen_contracts.add(contract_id)
        contracts.append(
            (contract_id, region_id, c["type"], c["issuer_id"], c["issuer_corporation_id"],
             c["date_issued"], c["date_expired"], money_text(get(c, "price")),
             money_text(get(c, "reward")), money_text(get(c, "collateral")),
             money_text(get(c, "buyout")), get(c, "volume"), get(c, "days_to_complete"),
             get(c, "start_location_id"), get(c, "end_location_id"),
             get(c, "for_corporation"), get(c, "title"), fetched_at, last_modified)
        )  # fmt: skip
        for i in get(c, "items") or ():
            record_id = i["record_id"]
            owner = owners.get(record_id)
            if owner is not None:
                if owner != contract_id:
                    raise ItemOwnershipError(
                        f"item record {record_id} is claimed by contracts {owner} and {contract_id}"
                    )
                continue  # the same item twice in one contract
            owners[record_id] = contract_id
            items.append(
                (record_id, contract_id, i["type_id"], i["quantity"], i["is_included"],
                 get(i, "item_id"), get(i, "is_blueprint_copy"),
                 get(i, "material_efficiency"), get(i, "time_efficiency"), get(i, "runs"))
            )  # fmt: skip
    return ContractRows(contracts, items, frozenset({region_id}))


def contract_count(batch: Fields) -> int:
    contracts: Sequence[Any] = batch["contracts"]
    return len(contracts)

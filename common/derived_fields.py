"""The contracts' derived fields, computed set-based in SQL by whoever changes what they
derive from: the persister when contracts and items land (in the statement that writes the
contracts: one write of each row), the persister and the SDE loader when reference data lands
(for exactly the contracts that use the new entries).

The fields are a function of the contract, its items and the reference data only, so any
order of arrival gives the same row.

- ``is_ship``: an offered item's type is in category Ship;
- ``primary_label``: the offered ship (the first by record id), else the first offered item's
  type name, else the title, else for a courier ``Courier: A → B`` (location names);
- ``item_count``: offered item lines;
- ``has_bpc`` and ``bpc_{runs,me,te}_{min,max}``: over the offered blueprint copies;
- ``search_text``: lower-case label, title and offered type names (trigram index);
- ``offered_{category,group}_ids``: the offered types' categories and groups, and
  ``offered_market_group_ids`` their market groups with every group above each
  (``market_groups.path``): the category, group and market-group filters (one GIN index).
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from common.db import FIRST_STRUCTURE_ID, SHIP_CATEGORY_ID


def location_name_sql(location: str) -> str:
    """SQL naming the location id ``location``: station, else any resolved name, else a
    player structure's or an unknown location's label."""
    return (
        f"coalesce((SELECT s.name FROM stations AS s WHERE s.station_id = {location}), "
        f"(SELECT e.name FROM entity_names AS e WHERE e.entity_id = {location}), "
        f"CASE WHEN {location} >= {FIRST_STRUCTURE_ID} THEN 'Structure ' || {location} "
        f"ELSE 'Location ' || {location} END)"
    )


#: (contracts column, name in :func:`derivation`'s ``computed``) of every derived field the
#: computation writes (``reward_per_m3`` is a generated column).
DERIVED_VALUES: Final = (
    ("is_ship", "is_ship"),
    ("primary_label", "label"),
    ("item_count", "item_count"),
    ("has_bpc", "has_bpc"),
    ("bpc_runs_min", "runs_min"),
    ("bpc_runs_max", "runs_max"),
    ("bpc_me_min", "me_min"),
    ("bpc_me_max", "me_max"),
    ("bpc_te_min", "te_min"),
    ("bpc_te_max", "te_max"),
    ("search_text", "search_text"),
    ("offered_category_ids", "category_ids"),
    ("offered_group_ids", "group_ids"),
    ("offered_market_group_ids", "market_group_ids"),
)


def derivation(target: str, contracts: str, items: str) -> str:
    """Common table expressions ending with ``computed``: the derived fields of the contracts
    ``target`` (a query of ``contract_id``) of the table ``contracts`` (with contracts'
    columns), from their items in ``items`` (a table with contract_items' columns)."""
    return f"""
target AS ({target}),
offered AS (
    SELECT i.contract_id, i.record_id, i.is_blueprint_copy, i.runs,
           i.material_efficiency, i.time_efficiency,
           coalesce(t.name, 'Unknown type ' || i.type_id) AS type_name,
           coalesce(t.category_id = {SHIP_CATEGORY_ID}, false) AS ship,
           t.category_id, t.group_id, t.market_path
    FROM {items} AS i
    -- the batch's types by their key (not a scan of the whole catalog for a hash join)
    LEFT JOIN (
        SELECT k.type_id, k.name, k.category_id, k.group_id, m.path AS market_path
        FROM item_types AS k
        LEFT JOIN market_groups AS m ON m.market_group_id = k.market_group_id
        WHERE k.type_id = ANY(ARRAY(
            SELECT DISTINCT u.type_id FROM {items} AS u
            WHERE u.contract_id IN (SELECT contract_id FROM target)))
    ) AS t ON t.type_id = i.type_id
    WHERE i.is_included AND i.contract_id IN (SELECT contract_id FROM target)
),
summary AS (
    SELECT o.contract_id,
        bool_or(o.ship) AS is_ship,
        count(*)::int AS item_count,
        coalesce(bool_or(o.is_blueprint_copy), false) AS has_bpc,
        min(o.runs) FILTER (WHERE o.is_blueprint_copy) AS runs_min,
        max(o.runs) FILTER (WHERE o.is_blueprint_copy) AS runs_max,
        min(o.material_efficiency) FILTER (WHERE o.is_blueprint_copy) AS me_min,
        max(o.material_efficiency) FILTER (WHERE o.is_blueprint_copy) AS me_max,
        min(o.time_efficiency) FILTER (WHERE o.is_blueprint_copy) AS te_min,
        max(o.time_efficiency) FILTER (WHERE o.is_blueprint_copy) AS te_max,
        (array_agg(o.type_name ORDER BY o.ship DESC, o.record_id))[1] AS item_label,
        string_agg(DISTINCT o.type_name, ' ') AS type_names,
        array_agg(DISTINCT o.category_id) FILTER (WHERE o.category_id IS NOT NULL)
            AS category_ids,
        array_agg(DISTINCT o.group_id) FILTER (WHERE o.group_id IS NOT NULL) AS group_ids
    FROM offered AS o
    GROUP BY o.contract_id
),
markets AS (
    SELECT o.contract_id, array_agg(DISTINCT g) AS market_group_ids
    FROM offered AS o CROSS JOIN LATERAL unnest(o.market_path) AS g
    GROUP BY o.contract_id
),
derived AS (
    SELECT c.contract_id,
        coalesce(s.is_ship, false) AS is_ship,
        coalesce(s.item_count, 0) AS item_count,
        coalesce(s.has_bpc, false) AS has_bpc,
        s.runs_min, s.runs_max, s.me_min, s.me_max, s.te_min, s.te_max,
        coalesce(s.item_label, nullif(c.title, ''),
                 CASE WHEN c.type = 'courier' THEN
                     'Courier: ' || {location_name_sql("c.start_location_id")}
                     || ' → ' || {location_name_sql("c.end_location_id")} END) AS label,
        s.type_names, c.title,
        coalesce(s.category_ids, '{{}}') AS category_ids,
        coalesce(s.group_ids, '{{}}') AS group_ids,
        coalesce(m.market_group_ids, '{{}}') AS market_group_ids
    FROM {contracts} AS c
    LEFT JOIN summary AS s ON s.contract_id = c.contract_id
    LEFT JOIN markets AS m ON m.contract_id = c.contract_id
    WHERE c.contract_id IN (SELECT contract_id FROM target)
),
computed AS (
    SELECT d.*, nullif(lower(concat_ws(' ', d.label, nullif(d.title, ''), d.type_names)), '')
        AS search_text
    FROM derived AS d
)"""


def _derive(contract_ids: str, items: str) -> str:
    """The UPDATE of the contracts ``contract_ids`` (a query of ``contract_id``) from
    their items in ``items`` (a table with contract_items' columns)."""
    stored = ", ".join(f"c.{column}" for column, _ in DERIVED_VALUES)
    computed = ", ".join(f"n.{name}" for _, name in DERIVED_VALUES)
    return f"""
WITH {derivation(contract_ids, "contracts", items)}
UPDATE contracts AS c SET
    {", ".join(f"{column} = n.{name}" for column, name in DERIVED_VALUES)}
FROM computed AS n
WHERE c.contract_id = n.contract_id
  AND ({stored}) IS DISTINCT FROM ({computed})
"""


#: After new or changed types: the contracts with an item of a type in ``$1``.
DERIVE_FOR_TYPES: Final = _derive(
    "SELECT DISTINCT contract_id FROM contract_items WHERE type_id = ANY($1::bigint[])",
    "contract_items",
)

#: After new or changed location names: the couriers from or to a location in ``$1``
#: (only a courier's label names its locations).
DERIVE_FOR_LOCATIONS: Final = _derive(
    "SELECT contract_id FROM contracts WHERE type = 'courier'"
    " AND (start_location_id = ANY($1::bigint[]) OR end_location_id = ANY($1::bigint[]))",
    "contract_items",
)

#: Every contract (the first catalog load into a database that already holds contracts).
DERIVE_ALL: Final = _derive("SELECT contract_id FROM contracts", "contract_items")


#: ``pg_advisory_xact_lock(int, int)`` keys ordering derivations against reference data:
#: contracts batches hold it shared, reference data (messages, the SDE loader) exclusive. So
#: a type committed while a batch of contracts that use it is being applied cannot be missed
#: by both: whichever commits second sees the other's rows in its derivation.
REFERENCE_LOCK: Final = (0x4842_0002, 0)
_LOCK_SHARED: Final = "SELECT pg_advisory_xact_lock_shared($1::int, $2::int)"
_LOCK_EXCLUSIVE: Final = "SELECT pg_advisory_xact_lock($1::int, $2::int)"


class Executor(Protocol):
    async def execute(self, query: str, *args: Any) -> str: ...


async def lock_reference_data(connection: Executor, *, exclusive: bool) -> None:
    await connection.execute(_LOCK_EXCLUSIVE if exclusive else _LOCK_SHARED, *REFERENCE_LOCK)

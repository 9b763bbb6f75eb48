"""Request and response models of what contracts hold: search by name, ship and blueprint
filters, location names. Kept apart from ``schemas.py``, which builds on them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Final, Self

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from services.api.system_security import SecurityClass

MAX_ID = 2**63 - 1
PositiveId = Annotated[int, Field(gt=0, le=MAX_ID)]
#: Categories, groups and market groups are 32-bit ids in EVE's static data and here.
CatalogId = Annotated[int, Field(gt=0, le=2**31 - 1)]
#: A run of letters or digits long enough to give the trigram index something to look up.
_INDEXABLE_WORD: Final = re.compile(r"[^\W_]{3}")


def _has_an_indexable_word(value: object) -> object:
    # Before the pattern (which says the same to clients): this message is clearer.
    if isinstance(value, str) and _INDEXABLE_WORD.search(value) is None:
        raise ValueError("q needs a run of at least 3 letters or digits")
    return value


#: The contracts' and the types' ``q``: 3 to 100 characters holding such a run (the schema
#: says so, so that a client that follows it is never refused). Every text accepted is looked
#: up through a trigram index; a text without such a run would read the whole table.
WordSearchText = Annotated[
    str,
    Field(min_length=3, max_length=100, pattern=r"^[^\x00]*[^\W_]{3}[^\x00]*$"),
    # After the constraints in this list, so that the schema still shows them; it runs first.
    BeforeValidator(_has_an_indexable_word),
]
BlueprintLevel = Annotated[int, Field(ge=0, le=100)]
Runs = Annotated[int, Field(ge=-1, le=1_000_000)]


class ContentFilters(BaseModel):
    """The parameters of ``GET /v1/contracts`` about what contracts hold and where they are.

    Item filters look at offered items (the issuer's), like ``contains_type_id``. The
    blueprint bounds apply to one and the same blueprint copy of the contract.
    """

    q: WordSearchText | None = Field(
        None,
        description=(
            "Case-insensitive word-prefix search in the contract's label, title and offered "
            "item type names (3 to 100 characters, with a run of at least 3 letters or "
            "digits; every character matches itself): the text, spaces collapsed, must start "
            "where a word starts. 'vexor navy' and 'navy issue' find 'Vexor Navy Issue', "
            "'exor' does not."
        ),
        examples=["vexor navy"],
    )
    ship: bool | None = Field(
        None, description="true: an offered item is a ship (category Ship); false: none is."
    )
    category_id: CatalogId | None = Field(
        None, description="An offered item's type is in this category (6: Ship, 9: Blueprint)."
    )
    group_id: CatalogId | None = Field(
        None, description="An offered item's type is in this group (26: Cruiser)."
    )
    market_group_id: CatalogId | None = Field(
        None,
        description=(
            "An offered item's type is in this market group or any group below it (4: Ships). "
            "An unknown market group matches nothing."
        ),
    )
    bpc: bool | None = Field(
        None, description="true: an offered item is a blueprint copy; false: none is."
    )
    min_runs: Runs | None = Field(None, description="A blueprint copy with runs >= this.")
    max_runs: Runs | None = Field(None, description="... and runs <= this.")
    min_me: BlueprintLevel | None = Field(
        None, description="A blueprint copy with material efficiency >= this."
    )
    max_me: BlueprintLevel | None = Field(None, description="... and material efficiency <= this.")
    min_te: BlueprintLevel | None = Field(
        None, description="A blueprint copy with time efficiency >= this."
    )
    max_te: BlueprintLevel | None = Field(None, description="... and time efficiency <= this.")
    system_id: PositiveId | None = Field(
        None,
        description="Starting at a station of this solar system (30000142: Jita).",
        examples=[30000142],
    )
    security: SecurityClass | None = Field(
        None,
        description=(
            "Starting at a station in a system of this class, by the security status EVE "
            "shows (rounded to one decimal; any positive status shows at least 0.1): highsec "
            "0.5 to 1.0 (true status >= 0.45), lowsec 0.1 to 0.4, nullsec 0.0 and below. "
            "Contracts whose start system is not known match no class."
        ),
    )
    min_reward_per_m3: Annotated[float, Field(ge=0, lt=1e18, allow_inf_nan=False)] | None = Field(
        None, description="Couriers paying at least this reward (ISK) per m3."
    )

    @model_validator(mode="after")
    def _blueprint_ranges_are_ordered(self) -> Self:
        empty = [
            name
            for name, low, high in (
                ("runs", self.min_runs, self.max_runs),
                ("me", self.min_me, self.max_me),
                ("te", self.min_te, self.max_te),
            )
            if low is not None and high is not None and low > high
        ]
        if empty:
            raise ValueError(
                f"empty range for {', '.join(empty)}: the lower bound exceeds the upper bound"
            )
        return self


class ContractNames(BaseModel):
    """What a contract holds and the names of its places and parties (null: not known yet)."""

    is_ship: bool = Field(False, description="An offered item is a ship.")
    primary_label: str | None = Field(
        None,
        description=(
            "The offered ship, else the first offered item's type name, else the title, else "
            "'Courier: A → B'."
        ),
        examples=["Vexor Navy Issue"],
    )
    item_count: int = Field(0, description="Offered item lines.")
    has_bpc: bool = Field(False, description="An offered item is a blueprint copy.")
    bpc_runs_min: int | None = None
    bpc_runs_max: int | None = None
    bpc_me_min: int | None = None
    bpc_me_max: int | None = None
    bpc_te_min: int | None = None
    bpc_te_max: int | None = None
    reward_per_m3: float | None = Field(None, description="Couriers: reward (ISK) per m3.")
    region_name: str | None = Field(None, examples=["The Forge"])
    start_location_name: str | None = Field(
        None, examples=["Jita IV - Moon 4 - Caldari Navy Assembly Plant"]
    )
    end_location_name: str | None = None
    start_system_id: int | None = Field(None, examples=[30000142])
    start_system_name: str | None = Field(None, examples=["Jita"])
    issuer_name: str | None = None
    issuer_corporation_name: str | None = None
    start_constellation_name: str | None = Field(None, examples=["Kimotoro"])
    start_region_name: str | None = Field(
        None, description="The region of the start system.", examples=["The Forge"]
    )
    start_security_status: float | None = Field(
        None,
        description=(
            "The start system's security status as EVE shows it: rounded to one decimal, a "
            "positive status below 0.05 shows 0.1."
        ),
        examples=[0.9],
    )
    start_security_class: SecurityClass | None = Field(None, examples=["highsec"])
    end_system_id: int | None = Field(None, examples=[30002187])
    end_system_name: str | None = Field(None, examples=["Amarr"])
    end_constellation_name: str | None = Field(None, examples=["Throne Worlds"])
    end_region_name: str | None = Field(
        None, description="The region of the end system.", examples=["Domain"]
    )


class ItemNames(BaseModel):
    type_name: str | None = Field(None, examples=["Vexor Navy Issue"])
    group_id: int | None = Field(None, examples=[26])
    group_name: str | None = Field(None, examples=["Cruiser"])
    category_id: int | None = Field(None, examples=[6])
    category_name: str | None = Field(None, examples=["Ship"])


class TypeMatch(BaseModel):
    type_id: int = Field(examples=[17843])
    name: str = Field(examples=["Vexor Navy Issue"])
    published: bool
    is_ship: bool
    group_id: int
    group_name: str | None
    category_id: int
    category_name: str | None


class TypeMatches(BaseModel):
    types: list[TypeMatch]


class TypeFacet(BaseModel):
    type: str = Field(examples=["item_exchange"])
    contracts: int


class CategoryFacet(BaseModel):
    category_id: int = Field(examples=[6])
    category_name: str | None = Field(examples=["Ship"])
    contracts: int = Field(
        description=(
            "Contracts offering an item of this category (items of types not in the catalog "
            "yet are in no category)."
        )
    )


class Facets(BaseModel):
    """Counts of the contracts matching the filters (the cursor aside), by contract type and by
    the category of their offered items."""

    counted: int = Field(description="Matching contracts counted.")
    complete: bool = Field(
        description=(
            "false: more contracts match than are counted (facet_max_contracts); the counts "
            "are over the first ones found, so each is a lower bound ('at least')."
        )
    )
    by_type: list[TypeFacet]
    by_category: list[CategoryFacet]


class TaxonomyGroup(BaseModel):
    group_id: int = Field(examples=[26])
    name: str = Field(examples=["Cruiser"])
    published: bool
    outstanding_contracts: int = Field(
        description="Outstanding contracts offering an item of this group."
    )


class TaxonomyCategory(BaseModel):
    category_id: int = Field(examples=[6])
    name: str = Field(examples=["Ship"])
    published: bool
    outstanding_contracts: int = Field(
        description="Outstanding contracts offering an item of this category."
    )
    groups: list[TaxonomyGroup]


class Taxonomy(BaseModel):
    computed_at: datetime = Field(description="When the counts were computed.")
    categories: list[TaxonomyCategory]

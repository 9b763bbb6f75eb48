"""Request and response models of ``GET /v1/locations``: places by name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

LocationKind = Literal["region", "system", "station", "structure"]
LOCATION_KINDS: tuple[LocationKind, ...] = ("region", "system", "station", "structure")
MIN_LOCATION_SEARCH = 2


def _holds_a_word(text: str) -> str:
    """Two letters or digits in a row: what a trigram index can look up."""
    run = 0
    for character in text:
        run = run + 1 if character.isalnum() else 0
        if run == MIN_LOCATION_SEARCH:
            return text
    raise ValueError("the text needs at least two letters or digits in a row")


LocationSearchText = Annotated[
    str,
    Field(
        min_length=MIN_LOCATION_SEARCH,
        max_length=100,
        pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",  # not blank; PostgreSQL text cannot hold NUL
    ),
    AfterValidator(_holds_a_word),
]


class LocationMatch(BaseModel):
    """A region, solar system, station or named structure. A system or station carries its
    system and region (when resolved); a region names itself as the region."""

    id: int = Field(examples=[30000142])
    name: str = Field(examples=["Jita"])
    kind: LocationKind
    system_id: int | None = Field(None, examples=[30000142])
    system_name: str | None = Field(None, examples=["Jita"])
    region_id: int | None = Field(None, examples=[10000002])
    region_name: str | None = Field(None, examples=["The Forge"])
    security_status: float | None = Field(
        None, description="The system's security status as ESI gives it.", examples=[0.946]
    )


class LocationMatches(BaseModel):
    locations: list[LocationMatch]

"""Every JetStream stream, subject and consumer name of Hangar Bay, derived from one prefix.

Two deployments (or two test runs) with different prefixes share a NATS server without seeing
each other's messages.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Subjects:
    """Names for one deployment, all derived from ``prefix``."""

    prefix: str

    @property
    def stream(self) -> str:
        """The stream that holds the log: contracts, sweeps and bids."""
        return f"{self.prefix.upper()}_CONTRACTS"

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.prefix.upper()}_DEAD_LETTER"

    @property
    def all_events(self) -> str:
        return f"{self.prefix}.events.>"

    def contracts(self, region_id: int | str, batch_key: str) -> str:
        """New contracts of a region, each with its complete item list.

        Each batch has a subject of its own (``batch_key`` identifies its contracts), so the
        stream can keep one message per subject: every batch, but only the newest sweep.
        """
        return f"{self.prefix}.events.contracts.{region_id}.{batch_key}"

    @property
    def all_contracts(self) -> str:
        return f"{self.prefix}.events.contracts.>"

    def sweep(self, region_id: int | str) -> str:
        """The complete listing of a region at one ESI generation."""
        return f"{self.prefix}.events.sweep.{region_id}"

    @property
    def all_sweeps(self) -> str:
        return f"{self.prefix}.events.sweep.*"

    def delisted(self, region_id: int | str, generation_key: str) -> str:
        """Contracts a region's sweep stopped listing (one subject per generation)."""
        return f"{self.prefix}.events.delisted.{region_id}.{generation_key}"

    def bids(self, region_id: int | str, batch_key: str) -> str:
        """New bids on auctions of a region (one subject per distinct batch, as contracts)."""
        return f"{self.prefix}.events.bids.{region_id}.{batch_key}"

    @property
    def all_bids(self) -> str:
        return f"{self.prefix}.events.bids.>"

    def reference(self, batch_key: str) -> str:
        """Reference data resolved through ESI (one subject per distinct content)."""
        return f"{self.prefix}.events.reference.{batch_key}"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead_letter"

    @property
    def persister_durable(self) -> str:
        return f"{self.prefix}_persister"

    @property
    def notifier_durable(self) -> str:
        return f"{self.prefix}_notifier"


def event_region(subject: str) -> tuple[str, int] | None:
    """(kind, region id) of an event subject made by :class:`Subjects` (``contracts``,
    ``sweep``, ``delisted`` or ``bids``), whatever its prefix; ``None`` for any other."""
    parts = subject.split(".")
    if len(parts) >= 3 and parts[-2] == "sweep" and parts[-3] == "events":
        kind, region = "sweep", parts[-1]
    elif len(parts) >= 4 and parts[-3] in EVENT_KINDS_WITH_KEY and parts[-4] == "events":
        kind, region = parts[-3], parts[-2]
    else:
        return None
    return (kind, int(region)) if region.isdigit() else None


#: Event kinds whose subject ends with ``<region>.<key>``.
EVENT_KINDS_WITH_KEY = frozenset({"contracts", "delisted", "bids"})


def is_reference_subject(subject: str) -> bool:
    """Whether ``subject`` is a reference-data subject made by :class:`Subjects`."""
    parts = subject.split(".")
    return len(parts) >= 3 and parts[-2] == "reference" and parts[-3] == "events"

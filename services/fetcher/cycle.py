"""One cycle of one region: sweep, enrich what is new, publish, refresh auction bids."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from common.esi_models import TYPES_WITH_ITEMS, EsiBid, EsiContract, EsiItem
from common.messages import (
    AuctionBids,
    BidsBatch,
    ContractsBatch,
    ContractsDelisted,
    ContractWithItems,
    RegionSweep,
)
from services.fetcher import metrics
from services.fetcher.discovery import InconsistentSweepError, Sweep, sweep_region
from services.fetcher.enrichment import EmptyItemsError, fetch_bids, fetch_items
from services.fetcher.esi_client import EsiClient, EsiError
from services.fetcher.health import SweepDeadlines
from services.fetcher.publisher import Publisher
from services.fetcher.resolver import ReferenceResolver
from services.fetcher.settings import FetcherSettings
from services.fetcher.state import FetcherState, Listing

log = logging.getLogger(__name__)

BIDS_CACHE_SECONDS = 300.0


@dataclass
class CycleReport:
    region_id: int
    degraded: bool = False
    generation: datetime | None = None
    pages: int = 0
    listed: int = 0
    published: int = 0
    gone_before_enrichment: int = 0
    failed: int = 0
    oversized: int = 0
    bids_published: int = 0
    fresh_for: float | None = None
    problems: list[str] = field(default_factory=list)


class RegionCycle:
    def __init__(
        self,
        settings: FetcherSettings,
        esi: EsiClient,
        state: FetcherState,
        publisher: Publisher,
        deadlines: SweepDeadlines,
        resolver: ReferenceResolver | None = None,
    ) -> None:
        self._resolver = resolver
        self._settings = settings
        self._esi = esi
        self._state = state
        self._publisher = publisher
        self._deadlines = deadlines
        self._enrichment_slots = asyncio.Semaphore(settings.enrichment_concurrency)

    async def run(self, region_id: int) -> CycleReport:
        report = CycleReport(region_id)
        started = time.perf_counter()
        sweep = await self._consistent_sweep(region_id, report)
        if sweep is None:
            metrics.SWEEPS_DEGRADED.labels(str(region_id)).inc()
            return report
        report.generation, report.pages, report.fresh_for = (
            sweep.generation,
            len(sweep.pages),
            sweep.fresh_for,
        )
        contract_ids = sweep.contract_ids()
        report.listed = len(contract_ids)
        await self._publish_new(sweep, sweep.valid_contract_ids(), report)
        if sweep.unidentified:
            # Only a sweep that names every listed contract may decide which ones are gone.
            report.problems.append(
                f"{sweep.unidentified} list entries without a readable contract_id: "
                "sweep not published"
            )
            metrics.SWEEPS_UNPUBLISHED.labels(str(region_id)).inc()
            log.warning(
                "sweep not published: invalid entries without a contract id",
                extra={"region": region_id, "entries": sweep.unidentified},
            )
        else:
            await self._publish_sweep(sweep, contract_ids)
        metrics.SWEEP_SECONDS.labels(str(region_id)).observe(time.perf_counter() - started)
        metrics.SWEEP_AGE.labels(str(region_id)).set(sweep.generation.timestamp())
        await self._refresh_bids(sweep, report)
        log.info(
            "region cycle done",
            extra={
                "region": region_id,
                "generation": sweep.generation.isoformat(),
                "pages": report.pages,
                "listed": report.listed,
                "published": report.published,
                "failed": report.failed,
            },
        )
        return report

    async def _publish_sweep(self, sweep: Sweep, contract_ids: list[int]) -> None:
        """The delisted contracts since the previous sweep, then the sweep itself."""
        previous = await self._state.listing(sweep.region_id)
        if previous is not None and previous.generation >= sweep.generation:
            return  # this generation (or a newer one) was published already
        if previous is not None:
            delisted = sorted(set(previous.contract_ids) - set(contract_ids))
            if delisted:
                await self._publisher.delisted(
                    ContractsDelisted(
                        region_id=sweep.region_id,
                        generation=sweep.generation,
                        previous_generation=previous.generation,
                        previous_swept_at=previous.swept_at,
                        contract_ids=delisted,
                    )
                )
        await self._publisher.sweep(
            RegionSweep(
                region_id=sweep.region_id,
                generation=sweep.generation,
                swept_at=sweep.swept_at,
                pages=len(sweep.pages),
                contract_ids=contract_ids,
            )
        )
        await self._state.store_listing(
            sweep.region_id, Listing(sweep.generation, sweep.swept_at, contract_ids)
        )

    async def _consistent_sweep(self, region_id: int, report: CycleReport) -> Sweep | None:
        for attempt in range(self._settings.max_resweeps + 1):
            try:
                return await sweep_region(self._esi, self._state, region_id)
            except InconsistentSweepError as error:
                report.problems.append(str(error))
                log.warning(
                    "inconsistent sweep, sweeping again",
                    extra={"region": region_id, "attempt": attempt + 1, "error": str(error)},
                )
            except EsiError as error:
                report.problems.append(str(error))
                log.warning("sweep failed", extra={"region": region_id, "error": str(error)})
                break
        report.degraded = True
        log.error(
            "region degraded: no consistent sweep",
            extra={"region": region_id, "problems": report.problems[-3:]},
        )
        return None

    async def _publish_new(
        self, sweep: Sweep, contract_ids: list[int], report: CycleReport
    ) -> None:
        unknown = set(await self._state.unknown_contracts(contract_ids))
        unknown -= await self._state.poisoned(sorted(unknown))
        if not unknown:
            return
        metrics.ENRICHMENT_QUEUE.inc(len(unknown))
        for page in sweep.pages:
            new = [c for c in page.contracts if c.contract_id in unknown]
            unknown.difference_update(c.contract_id for c in new)
            if not new:
                continue
            enriched = await asyncio.gather(*(self._enrich(c, report) for c in new))
            ready = [c for c in enriched if c is not None]
            if not ready:
                continue
            batch = ContractsBatch(
                region_id=sweep.region_id,
                fetched_at=datetime.now(UTC),
                source=page.source,
                contracts=ready,
            )
            outcome = await self._publisher.contracts(batch)
            for published in outcome.batches:
                await self._state.mark_known(c.contract_id for c in published.contracts)
                report.published += len(published.contracts)
                self._deadlines.progressed(sweep.region_id)
            for oversized in outcome.oversized:
                await self._give_up(oversized.contract.contract_id, oversized.reason)
                metrics.OVERSIZED.inc()
                report.oversized += 1
            await self._state.clear_failures(c.contract_id for c in ready)
            if self._resolver is not None:
                try:
                    await self._resolver.resolve(sweep.region_id, ready)
                except Exception:  # names never hold contracts back; tried again next time
                    log.exception("reference data not resolved", extra={"region": sweep.region_id})

    async def _enrich(self, contract: EsiContract, report: CycleReport) -> ContractWithItems | None:
        try:
            items: list[EsiItem] = []
            if contract.type in TYPES_WITH_ITEMS:
                async with self._enrichment_slots:
                    fetched = await fetch_items(self._esi, contract.contract_id)
                if fetched is None:
                    report.gone_before_enrichment += 1
                    return None
                items = fetched
            return ContractWithItems(**contract.model_dump(), items=items)
        except (EsiError, EmptyItemsError) as error:
            report.failed += 1
            failures = await self._state.record_failure(contract.contract_id)
            if failures >= self._settings.poison_after:
                await self._give_up(
                    contract.contract_id, f"enrichment failed {failures} times: {error}"
                )
            else:
                log.warning(
                    "enrichment failed",
                    extra={
                        "contract_id": contract.contract_id,
                        "failures": failures,
                        "error": str(error),
                    },
                )
            return None
        finally:
            metrics.ENRICHMENT_QUEUE.dec()

    async def _give_up(self, contract_id: int, reason: str) -> None:
        """A poison record with its reason: the contract is not fetched or published again."""
        await self._state.mark_poisoned(contract_id, reason)
        metrics.POISONED.inc()
        log.error("contract poisoned", extra={"contract_id": contract_id, "reason": reason})

    async def _refresh_bids(self, sweep: Sweep, report: CycleReport) -> None:
        auctions = sorted(
            {c.contract_id for page in sweep.pages for c in page.contracts if c.type == "auction"}
        )
        unpublished = set(await self._state.unknown_contracts(auctions))
        due = await self._state.bids_due([a for a in auctions if a not in unpublished])
        if not due:
            return
        published = await self._state.published_bids(due)
        fetched = await asyncio.gather(*(self._bids_of(a) for a in due))
        changed: list[AuctionBids] = []
        for contract_id, bids in zip(due, fetched, strict=True):
            if bids is None:
                continue
            new = [b for b in bids if b.bid_id not in published[contract_id]]
            if new:
                changed.append(AuctionBids(contract_id=contract_id, bids=new))
        if not changed:
            return
        await self._publisher.bids(
            BidsBatch(region_id=sweep.region_id, fetched_at=datetime.now(UTC), auctions=changed)
        )
        await self._state.store_published_bids(
            {a.contract_id: published[a.contract_id] | {b.bid_id for b in a.bids} for a in changed}
        )
        report.bids_published += sum(len(a.bids) for a in changed)

    async def _bids_of(self, contract_id: int) -> list[EsiBid] | None:
        try:
            async with self._enrichment_slots:
                bids, fresh_for = await fetch_bids(self._esi, contract_id)
        except EsiError as error:
            log.warning("bids failed", extra={"contract_id": contract_id, "error": str(error)})
            return None
        await self._state.bids_fresh_for(contract_id, fresh_for or BIDS_CACHE_SECONDS)
        return bids

"""Publishing to JetStream: batches kept under the server's payload limit, a deterministic
``Nats-Msg-Id`` on every message (a republish after a crash is deduplicated), and every
publish acknowledged by JetStream before anything is recorded as sent.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from common.messages import BidsBatch, ContractsBatch, ContractsDelisted, RegionSweep
from common.subjects import Subjects
from services.fetcher import metrics

HEADROOM_BYTES = 4096


class MessageTooLargeError(Exception):
    pass


class Publisher:
    def __init__(self, js: JetStreamContext, subjects: Subjects, max_bytes: int) -> None:
        self._js = js
        self._subjects = subjects
        self._max_bytes = max_bytes - HEADROOM_BYTES

    async def _publish(self, subject: str, payload: bytes, message_id: str, kind: str) -> None:
        if len(payload) > self._max_bytes:
            raise MessageTooLargeError(
                f"{kind} message of {len(payload)} bytes exceeds {self._max_bytes}"
            )
        await self._js.publish(subject, payload, headers={"Nats-Msg-Id": message_id})
        metrics.MESSAGES_PUBLISHED.labels(kind).inc()

    async def contracts(self, batch: ContractsBatch) -> list[ContractsBatch]:
        """Publish, halving the batch until each part fits; returns what was published."""
        payload = batch.to_json()
        if len(payload) > self._max_bytes and len(batch.contracts) > 1:
            middle = len(batch.contracts) // 2
            first = batch.model_copy(update={"contracts": batch.contracts[:middle]})
            second = batch.model_copy(update={"contracts": batch.contracts[middle:]})
            return [*await self.contracts(first), *await self.contracts(second)]
        await self._publish(
            self._subjects.contracts(batch.region_id, batch.batch_key()),
            payload,
            batch.message_id(),
            "contracts",
        )
        metrics.CONTRACTS_PUBLISHED.inc(len(batch.contracts))
        return [batch]

    async def sweep(self, sweep: RegionSweep) -> None:
        await self._publish(
            self._subjects.sweep(sweep.region_id), sweep.to_json(), sweep.message_id(), "sweep"
        )

    async def delisted(self, delisted: ContractsDelisted) -> None:
        subject = self._subjects.delisted(
            delisted.region_id, str(int(delisted.generation.timestamp()))
        )
        await self._publish(subject, delisted.to_json(), delisted.message_id(), "delisted")

    async def bids(self, batch: BidsBatch) -> None:
        payload = batch.to_json()
        if len(payload) > self._max_bytes and len(batch.auctions) > 1:
            middle = len(batch.auctions) // 2
            await self.bids(batch.model_copy(update={"auctions": batch.auctions[:middle]}))
            await self.bids(batch.model_copy(update={"auctions": batch.auctions[middle:]}))
            return
        await self._publish(
            self._subjects.bids(batch.region_id, batch.batch_key()),
            payload,
            batch.message_id(),
            "bids",
        )

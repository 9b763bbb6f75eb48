"""Publishing to JetStream: batches kept under the server's payload limit, a deterministic
``Nats-Msg-Id`` on every message (a republish after a crash is deduplicated), and every
publish acknowledged by JetStream before anything is recorded as sent.
"""

from __future__ import annotations

import asyncio
import logging

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from common.messages import (
    BidsBatch,
    ContractsBatch,
    ContractsDelisted,
    ReferenceData,
    RegionSweep,
)
from common.subjects import Subjects
from services.fetcher import metrics

HEADROOM_BYTES = 4096
PUBLISH_TIMEOUT_SECONDS = 10.0
PUBLISH_ATTEMPTS = 5

log = logging.getLogger(__name__)


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
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                await self._js.publish(
                    subject, payload, timeout=PUBLISH_TIMEOUT_SECONDS,
                    headers={"Nats-Msg-Id": message_id},
                )  # fmt: skip
                break
            except (NatsTimeoutError, NoRespondersError):
                # Unknown whether JetStream stored it: publishing again under the same
                # Nats-Msg-Id is safe, the stream drops the duplicate.
                if attempt == PUBLISH_ATTEMPTS:
                    raise
                log.warning("publish not acknowledged, retrying", extra={"msg_id": message_id})
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
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

    async def reference(self, message: ReferenceData) -> None:
        await self._publish(
            self._subjects.reference(message.batch_key()),
            message.to_json(),
            message.message_id(),
            "reference",
        )

"""Publishing to JetStream: batches kept under the server's payload limit, a deterministic
``Nats-Msg-Id`` on every message (a republish after a crash is deduplicated), and every
publish acknowledged by JetStream before anything is recorded as sent.

A contract travels with all its items in one message: one that alone exceeds the limit is
never split, it is handed back as oversized for the caller to give up with a reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from common.messages import (
    BidsBatch,
    ContractsBatch,
    ContractsDelisted,
    ContractWithItems,
    ReferenceData,
    RegionSweep,
)
from common.subjects import Subjects
from services.fetcher import metrics
from services.fetcher.retry import RetryPolicy

HEADROOM_BYTES = 4096
PUBLISH_TIMEOUT_SECONDS = 10.0
#: Rides out a stream without a leader for about a minute (waits of 1, 2, 4, 8, then 10 s,
#: jittered): a cluster that lost its stream leader elects another in seconds, but on a busy
#: machine a run of the fault suite saw five attempts (about 15 s) run out first.
PUBLISH_RETRY = RetryPolicy(attempts=9, base_seconds=1.0, max_seconds=10.0)
#: What a publish meets while the stream has no leader to answer (a cluster electing one, a
#: server restarting): unknown whether it was stored, so it is published again.
STREAM_UNAVAILABLE = (
    NatsTimeoutError,
    NoRespondersError,
    NoStreamResponseError,
    ServiceUnavailableError,
)

log = logging.getLogger(__name__)


class MessageTooLargeError(Exception):
    pass


@dataclass(frozen=True)
class OversizedContract:
    contract: ContractWithItems
    message_bytes: int
    limit_bytes: int

    @property
    def reason(self) -> str:
        return (
            f"contract {self.contract.contract_id} with {len(self.contract.items)} items is a "
            f"{self.message_bytes}-byte message, over the {self.limit_bytes}-byte limit; "
            "a contract and its items travel in one message"
        )


@dataclass
class PublishedContracts:
    batches: list[ContractsBatch] = field(default_factory=list)
    oversized: list[OversizedContract] = field(default_factory=list)


class Publisher:
    def __init__(
        self,
        js: JetStreamContext,
        subjects: Subjects,
        max_bytes: int,
        retry: RetryPolicy = PUBLISH_RETRY,
    ) -> None:
        self._js = js
        self._subjects = subjects
        self._max_bytes = max_bytes - HEADROOM_BYTES
        self._retry = retry

    async def _publish(self, subject: str, payload: bytes, message_id: str, kind: str) -> None:
        if len(payload) > self._max_bytes:
            raise MessageTooLargeError(
                f"{kind} message of {len(payload)} bytes exceeds {self._max_bytes}"
            )
        # Unknown whether JetStream stored it: publishing again under the same Nats-Msg-Id is
        # safe, the stream drops the duplicate.
        async for attempt in self._retry.retrying(
            on=STREAM_UNAVAILABLE,
            before_sleep=lambda _: log.warning(
                "publish not acknowledged, retrying", extra={"msg_id": message_id}
            ),
        ):
            with attempt:
                await self._js.publish(
                    subject, payload, timeout=PUBLISH_TIMEOUT_SECONDS,
                    headers={"Nats-Msg-Id": message_id},
                )  # fmt: skip
        metrics.MESSAGES_PUBLISHED.labels(kind).inc()

    async def contracts(self, batch: ContractsBatch) -> PublishedContracts:
        """Publish, halving the batch until each part fits; returns what was published and
        the contracts too large to publish even alone."""
        payload = batch.to_json()
        if len(payload) > self._max_bytes:
            if len(batch.contracts) == 1:
                oversized = OversizedContract(batch.contracts[0], len(payload), self._max_bytes)
                return PublishedContracts(oversized=[oversized])
            middle = len(batch.contracts) // 2
            first = await self.contracts(
                batch.model_copy(update={"contracts": batch.contracts[:middle]})
            )
            second = await self.contracts(
                batch.model_copy(update={"contracts": batch.contracts[middle:]})
            )
            return PublishedContracts(
                first.batches + second.batches, first.oversized + second.oversized
            )
        await self._publish(
            self._subjects.contracts(batch.region_id, batch.batch_key()),
            payload,
            batch.message_id(),
            "contracts",
        )
        metrics.CONTRACTS_PUBLISHED.inc(len(batch.contracts))
        return PublishedContracts(batches=[batch])

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

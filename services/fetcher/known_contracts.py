"""Rebuilding the set of already-published contracts from the stream after a Redis loss,
so that a restart never re-fetches the items of the whole universe.
"""

from __future__ import annotations

import logging

import orjson
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from common.subjects import Subjects
from services.fetcher.state import FetcherState

log = logging.getLogger(__name__)


def _contract_ids(body: bytes) -> list[int] | None:
    """The contract ids of a contracts batch, or ``None`` if the body is not one (a poison
    message on a contracts subject is the persister's to dead-letter, not the fetcher's)."""
    try:
        contracts = orjson.loads(body)["contracts"]
        return [int(c["contract_id"]) for c in contracts]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


async def rebuild_known_contracts(
    js: JetStreamContext, subjects: Subjects, state: FetcherState
) -> int:
    """Read every retained contracts batch and mark its contracts known; returns how many."""
    try:
        info = await js.stream_info(subjects.stream)
    except NotFoundError:
        await state.mark_known_complete(0)
        return 0
    last_sequence = info.state.last_seq
    known = 0
    if info.state.messages:
        subscription = await js.subscribe(
            subjects.all_contracts, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        try:
            while True:
                try:
                    message = await subscription.next_msg(timeout=5)
                except NatsTimeoutError:
                    break  # the stream holds no (more) contracts batches
                ids = _contract_ids(message.data)
                if ids is None:
                    log.warning(
                        "unreadable contracts message skipped while rebuilding",
                        extra={"stream_sequence": message.metadata.sequence.stream},
                    )
                    ids = []
                await state.mark_known(ids)
                known += len(ids)
                if (
                    message.metadata.num_pending == 0
                    or message.metadata.sequence.stream >= last_sequence
                ):
                    break
        finally:
            await subscription.unsubscribe()
    await state.mark_known_complete(last_sequence)
    log.info("known contracts rebuilt from the stream", extra={"contracts": known})
    return known

"""A workaround for a gap between nats-py and FastStream, until either closes it.

nats-py's ``PullSubscription.fetch`` raises a bare ``asyncio.TimeoutError`` when its deadline
runs out between its two pull requests (``nats/js/client.py``, ``_fetch_n``), instead of its
own ``nats.errors.TimeoutError``. FastStream's pull loop catches only the latter: the bare
one kills the loop together with the messages it has already fetched in that round, which
JetStream then redelivers only after ``ack_wait`` (60 s by default), behind newer messages.
The fault suite counted up to four such deaths per injection. Translating the error restores
what FastStream expects: an empty round, and the messages handled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

_PATCHED = "_hangar_timeout_translated"

Fetch = Callable[..., Awaitable[list[Any]]]


#: Longest pause of a fetch that failed before its timeout (see below).
EARLY_FAILURE_PAUSE_SECONDS = 1.0


#: Subscriptions whose subscriber is stopping: what they still fetch is handed back.
_stopping: weakref.WeakSet[Any] = weakref.WeakSet()
#: Per subscription, the fetched messages not settled yet (ack, nak or term).
_unsettled: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


async def hand_back_unsettled(subscription: object) -> int:
    """``nak`` what ``subscription`` fetched and nobody settled: FastStream's pull loop keeps
    a round being filled in a local list and drops it when its subscriber stops. Call it once
    the subscriber has stopped (its handlers are done), before the connection closes."""
    handed_back = 0
    client = None
    for message in _unsettled.pop(subscription, []):
        if not message._ackd:
            with contextlib.suppress(Exception):
                await message.nak()
                handed_back += 1
                client = message._client
    if client is not None:
        with contextlib.suppress(Exception):
            await client.flush(timeout=5)  # the naks must leave before the connection closes
        log.info("unsettled messages handed back", extra={"messages": handed_back})
    return handed_back


def hand_back_later_fetches(subscription: object) -> None:
    """FastStream's pull loop drops, unsettled, a round it fetched while its subscriber was
    stopping (JetStream redelivers it only after ``ack_wait``); from now on such a round of
    ``subscription`` is handed back at once (``nak``) and the loop gets nothing."""
    _stopping.add(subscription)


def translating_timeouts(fetch: Fetch) -> Fetch:
    @functools.wraps(fetch)
    async def fetch_with_nats_timeouts(*args: Any, **kwargs: Any) -> list[Any]:
        started = time.monotonic()
        try:
            messages = await fetch(*args, **kwargs)
            if args:
                kept = [m for m in _unsettled.get(args[0], []) if not m._ackd]
                _unsettled[args[0]] = kept + list(messages)
            if args and args[0] in _stopping:
                for message in messages:
                    with contextlib.suppress(Exception):
                        await message.nak()
                return []
            return messages
        except (TimeoutError, ConnectionClosedError) as error:
            # While the server is unreachable a fetch fails at once, and FastStream's loop
            # fetches again at once: a busy loop. A failed fetch lasts its timeout at least.
            timeout = kwargs.get("timeout", args[2] if len(args) > 2 else None)
            remaining = (timeout or EARLY_FAILURE_PAUSE_SECONDS) - (time.monotonic() - started)
            if remaining > 0:
                await asyncio.sleep(min(remaining, EARLY_FAILURE_PAUSE_SECONDS))
            if isinstance(error, TimeoutError) and not isinstance(error, NatsTimeoutError):
                raise NatsTimeoutError from error  # asyncio's, bare: see the module's text
            raise

    setattr(fetch_with_nats_timeouts, _PATCHED, True)
    return fetch_with_nats_timeouts


def translate_fetch_timeouts() -> None:
    """Make every pull subscription's ``fetch`` raise only ``nats.errors.TimeoutError``."""
    subscription = JetStreamContext.PullSubscription
    if not getattr(subscription.fetch, _PATCHED, False):
        subscription.fetch = translating_timeouts(subscription.fetch)  # type: ignore[method-assign,assignment]

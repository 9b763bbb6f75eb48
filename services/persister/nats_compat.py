"""A workaround for a gap between nats-py and FastStream, until either closes it.

nats-py's ``PullSubscription.fetch`` raises a bare ``asyncio.TimeoutError`` when its deadline
runs out between its two pull requests (``nats/js/client.py``, ``_fetch_n``), instead of its
own ``nats.errors.TimeoutError``. FastStream's pull loop catches only the latter: the bare
one kills the loop together with the messages it has already fetched in that round, which
JetStream then redelivers only after ``ack_wait`` (60 s by default), behind newer messages.
The fault suite counted up to four such deaths per injection. Translating the error restores
what FastStream expects: an empty round, and the messages handled at once.

At shutdown FastStream cancels its pull loop, fetch and all: the messages of a cancelled fetch,
and those its pull requests bring after it, were delivered and nobody settles them, so they
wait out ``ack_wait``. Here a fetch runs on when its caller is cancelled, and the persister
stops fetching, lets the fetches under way end, then hands back (``nak``) whatever is left.
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


#: Longest wait, when handing back, for a fetch still under way.
LAST_FETCH_WAIT_SECONDS = 2.0

#: Subscriptions whose subscriber is stopping: they fetch nothing more.
_stopping: weakref.WeakSet[Any] = weakref.WeakSet()
#: Per subscription, the fetched messages not settled yet (ack, nak or term).
_unsettled: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
#: Per subscription, its fetches under way. A fetch runs on when its caller is cancelled
#: (FastStream cancels its pull loop on stop): what it gathers lands in ``_unsettled`` instead
#: of vanishing with the cancelled call's local list, left for ``ack_wait`` to redeliver.
_fetching: weakref.WeakKeyDictionary[Any, set[asyncio.Future[list[Any]]]] = (
    weakref.WeakKeyDictionary()
)


def _subscription_of(args: tuple[Any, ...]) -> Any:
    subscription = args[0] if args else None
    try:
        weakref.ref(subscription)
    except TypeError:
        return None
    return subscription


def _record(subscription: Any, messages: list[Any]) -> None:
    kept = [m for m in _unsettled.get(subscription, []) if not m._ackd]
    _unsettled[subscription] = kept + messages


def _undelivered(subscription: Any) -> list[Any]:
    """Take the messages delivered to ``subscription``'s inbox that no fetch has taken: the
    rest of a batch that came after its fetch's deadline, or an answer to a pull request that
    outlived its fetch. The next fetch would take them first; at shutdown there is none."""
    inbox = getattr(subscription, "_sub", None)
    queue: asyncio.Queue[Any] | None = getattr(inbox, "_pending_queue", None)
    messages = []
    while queue is not None and not queue.empty():
        message = queue.get_nowait()
        if inbox is not None:
            inbox._pending_size -= len(message.data)
        if not JetStreamContext.is_status_msg(message):
            messages.append(message)
    return messages


async def stop_fetching(subscriptions: list[Any], grace_seconds: float) -> None:
    """From now on ``subscriptions`` fetch nothing (a fetch waits out its timeout and returns
    nothing); the fetches under way end (their messages are still handled or handed back), and
    what their pull requests bring within ``grace_seconds`` is kept for ``hand_back_unsettled``.
    Call it before the subscribers stop: stopping them closes their inboxes."""
    for subscription in subscriptions:
        _stopping.add(subscription)
    under_way = [f for s in subscriptions for f in _fetching.get(s, set())]
    if under_way:
        await asyncio.wait(under_way, timeout=grace_seconds * 10)
    await asyncio.sleep(grace_seconds)
    for subscription in subscriptions:
        _record(subscription, _undelivered(subscription))


async def hand_back_unsettled(subscription: object) -> int:
    """``nak`` what ``subscription`` fetched and nobody settled: FastStream's pull loop keeps
    a round being filled in a local list and drops it when its subscriber stops. Call it once
    the subscriber has stopped (its handlers are done), before the connection closes."""
    under_way = list(_fetching.get(subscription, ()))
    if under_way:  # only if ``stop_fetching`` gave up waiting for them
        await asyncio.wait(under_way, timeout=LAST_FETCH_WAIT_SECONDS)
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


def translating_timeouts(fetch: Fetch) -> Fetch:
    @functools.wraps(fetch)
    async def fetch_with_nats_timeouts(*args: Any, **kwargs: Any) -> list[Any]:
        started = time.monotonic()
        timeout = kwargs.get("timeout", args[2] if len(args) > 2 else None)
        subscription = _subscription_of(args)
        if subscription is not None and subscription in _stopping:
            await asyncio.sleep(timeout or EARLY_FAILURE_PAUSE_SECONDS)
            raise NatsTimeoutError
        fetching = asyncio.ensure_future(fetch(*args, **kwargs))
        under_way = _fetching.setdefault(subscription, set()) if subscription is not None else set()
        under_way.add(fetching)

        def settle(done: asyncio.Future[list[Any]]) -> None:
            under_way.discard(done)
            if not done.cancelled() and done.exception() is None and subscription is not None:
                _record(subscription, list(done.result()))

        fetching.add_done_callback(settle)
        try:
            return await asyncio.shield(fetching)
        except (TimeoutError, ConnectionClosedError) as error:
            # While the server is unreachable a fetch fails at once, and FastStream's loop
            # fetches again at once: a busy loop. A failed fetch lasts its timeout at least.
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

"""A JetStream pull-consume loop through nats-py's public API alone.

One loop fetches; each fetch goes to a handler task, which settles its messages (ack, nak,
term); up to ``concurrency`` handlers run at once while the next fetch is under way.

- An empty fetch is an empty round, whatever kind of timeout says so: nats-py's
  ``PullSubscription.fetch`` raises ``nats.errors.TimeoutError`` or, when its deadline runs
  out between its two pull requests, asyncio's bare ``TimeoutError`` (its base class).
- A fetch that fails otherwise (NATS unreachable, the consumer gone, a bad answer) is retried
  after an exponential backoff: the loop never ends on an infrastructure error.
- A handler that raises ends the loop, with the shutdown below; a consumer that must never
  end (the persister) hands its failures back itself.
- Shutdown (``stop()``): no new fetch starts; the fetch under way ends on its own (it is never
  cancelled: the messages its pull requests bring would be delivered to nobody and wait for
  ``ack_wait``); the handlers running finish and settle; then every message fetched and not
  handled is handed back (``nak``: redelivered at once), including the late answers to a pull
  request that outlived its fetch, which nats-py keeps for the next fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import MsgAlreadyAckdError
from nats.js import JetStreamContext

from common.event_wait import event_set_within

log = logging.getLogger(__name__)

#: ``handle(messages, earlier)``: ``earlier`` are the handlers of earlier fetches still running.
Handler = Callable[[list[Msg], frozenset[asyncio.Task[None]]], Coroutine[Any, Any, None]]

FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 5.0
#: Rounds at shutdown that take the late answers of pull requests, each after this pause.
LATE_ANSWER_ROUNDS = 3
LATE_ANSWER_PAUSE_SECONDS = 0.1


@dataclass
class LoopCounts:
    fetches: int = 0
    messages: int = 0
    empty_rounds: int = 0
    failed_fetches: int = 0
    handed_back: int = 0


class PullLoop:
    """Consume ``subscription`` (a pull subscription of ``client``) until ``stop()``, or until
    ``when_empty`` (awaited after an empty round with no handler running) returns true."""

    def __init__(
        self,
        client: Client,
        subscription: JetStreamContext.PullSubscription,
        handle: Handler,
        *,
        batch: int,
        fetch_timeout: float | Callable[[], float],
        concurrency: int = 1,
        when_empty: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._client = client
        self._subscription = subscription
        self._handle = handle
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._concurrency = concurrency
        self._when_empty = when_empty
        self._stopping = asyncio.Event()
        #: Each handler running, with the messages it settles.
        self._handlers: dict[asyncio.Task[None], list[Msg]] = {}
        self._unhandled: list[Msg] = []
        self.counts = LoopCounts()

    def stop(self) -> None:
        """Fetch nothing more; ``run`` then finishes what is under way and hands back the rest."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        failed = False
        try:
            await self._consume()
        except BaseException:
            failed = True
            raise
        finally:
            await self._shut_down(cancel_handlers=failed)

    async def _consume(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while not self.stopping:
            try:
                messages = await self._fetch()
            except Exception as error:  # any failure of a fetch is retried
                self.counts.failed_fetches += 1
                log.warning(
                    "fetch failed; retrying after a pause",
                    extra={"error": repr(error), "pause_seconds": backoff},
                )
                await event_set_within(self._stopping, backoff)
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
                continue
            backoff = FIRST_BACKOFF_SECONDS
            if self.stopping:  # it ended after the stop: nobody will handle it
                self._unhandled += messages
                break
            if messages:
                self._start_handler(messages)
                if len(self._handlers) >= self._concurrency:
                    await self._first_done()
            elif self._handlers:
                await self._first_done()
            elif self._when_empty is not None and await self._when_empty():
                break

    async def _fetch(self) -> list[Msg]:
        timeout = self._fetch_timeout() if callable(self._fetch_timeout) else self._fetch_timeout
        self.counts.fetches += 1
        try:
            messages = await self._subscription.fetch(self._batch, timeout=timeout)
        except TimeoutError:  # nats-py's own and asyncio's bare one alike: nothing came
            self.counts.empty_rounds += 1
            return []
        self.counts.messages += len(messages)
        if not messages:
            self.counts.empty_rounds += 1
        return messages

    def _start_handler(self, messages: list[Msg]) -> None:
        task = asyncio.create_task(self._handle(messages, frozenset(self._handlers)))
        self._handlers[task] = messages

    async def _first_done(self) -> None:
        """Wait for one handler; its failure ends the loop."""
        done, _ = await asyncio.wait(self._handlers, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            messages = self._handlers.pop(task)
            if task.exception() is not None:
                self._unhandled += messages  # what it did not settle is handed back
            task.result()

    async def _shut_down(self, *, cancel_handlers: bool) -> None:
        if cancel_handlers:
            for task in self._handlers:
                task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for task, messages in self._handlers.items():
            if task.cancelled() or task.exception() is not None:
                self._unhandled += messages
        self._handlers.clear()
        self._unhandled += await self._late_answers()
        self.counts.handed_back = await self._hand_back(self._unhandled)
        self._unhandled = []
        with contextlib.suppress(NatsError, OSError):
            await self._subscription.unsubscribe()

    async def _late_answers(self) -> list[Msg]:
        """What the server sent to pull requests after their fetch had returned: nats-py keeps
        it for the next fetch (``pending_bytes``; status messages have no body)."""
        late: list[Msg] = []
        for _ in range(LATE_ANSWER_ROUNDS):
            await asyncio.sleep(LATE_ANSWER_PAUSE_SECONDS)
            try:
                if self._subscription.pending_bytes <= 0:
                    break
                late += await self._subscription.fetch(
                    self._subscription.pending_msgs, timeout=LATE_ANSWER_PAUSE_SECONDS
                )
            except (TimeoutError, NatsError, OSError, ValueError):
                break
        return late

    async def _hand_back(self, messages: list[Msg]) -> int:
        handed_back = 0
        for message in messages:
            try:
                await message.nak()
            except MsgAlreadyAckdError:
                continue  # settled by its handler
            except (NatsError, OSError):
                break  # NATS is gone: JetStream redelivers after ack_wait
            handed_back += 1
        if handed_back:
            with contextlib.suppress(NatsError, OSError, TimeoutError):
                await self._client.flush(timeout=5)  # before the connection closes
        log.info("unsettled messages handed back", extra={"messages": handed_back})
        return handed_back

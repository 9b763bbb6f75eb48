"""The fetcher's one retry policy (ESI requests, JetStream publishes, a region's failed
cycles): exponential backoff with full jitter, bounded by a longest delay and, where a caller
must give up, by a number of attempts. Built on tenacity."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import tenacity

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt ``n`` (from 1) waits a uniform random time in
    ``[0, min(max_seconds, base_seconds * 2 ** (n - 1))]`` before attempt ``n + 1``."""

    attempts: int
    base_seconds: float
    max_seconds: float
    sleep: Sleep = field(default=asyncio.sleep, compare=False)

    def wait(self) -> tenacity.wait.wait_random_exponential:
        return tenacity.wait_random_exponential(multiplier=self.base_seconds, max=self.max_seconds)

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt ``attempt``."""
        return min(self.max_seconds, self.base_seconds * float(2 ** (attempt - 1)))

    def delay(self, attempt: int) -> float:
        """A wait after failed attempt ``attempt``, for a loop that schedules itself."""
        state = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        return float(self.wait()(state))

    def retrying(
        self,
        on: type[BaseException] | tuple[type[BaseException], ...],
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
    ) -> tenacity.AsyncRetrying:
        """Retry what raises ``on``, at most ``attempts`` times; the last error is re-raised."""
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self.wait(),
            retry=tenacity.retry_if_exception_type(on),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

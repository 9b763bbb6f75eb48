"""ESI's legacy error limit: at most ``limit`` 4xx/5xx responses per fixed window, then 420s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

ERROR_LIMIT_MESSAGE = (
    "This software has exceeded the error limit for ESI. If you are a user, please contact the "
    "maker of this software. If you are the maker of this software, please reduce your error "
    "rate."
)


class ErrorLimiter:
    """A fixed window of ``window`` seconds that starts with the first request after the
    previous one ended; each error takes one of ``limit`` tokens."""

    def __init__(
        self,
        limit: int = 100,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._remain = limit
        self._end = -math.inf

    def _roll(self) -> float:
        now = self._clock()
        if now >= self._end:
            self._end = now + self.window
            self._remain = self.limit
        return now

    def limited(self) -> bool:
        """Whether every request must be answered 420 until the window resets."""
        self._roll()
        return self._remain <= 0

    def record_error(self) -> None:
        self._roll()
        self._remain = max(0, self._remain - 1)

    def reset(self) -> None:
        self._remain = self.limit
        self._end = -math.inf

    def headers(self) -> dict[str, str]:
        """``X-ESI-Error-Limit-Remain`` and ``X-ESI-Error-Limit-Reset`` (seconds)."""
        remain, reset = self._current()
        return {"X-ESI-Error-Limit-Remain": str(remain), "X-ESI-Error-Limit-Reset": str(reset)}

    def state(self) -> dict[str, Any]:
        remain, reset = self._current()
        return {
            "limit": self.limit,
            "window_seconds": self.window,
            "remain": remain,
            "reset_seconds": reset,
            "limited": remain <= 0,
        }

    def _current(self) -> tuple[int, int]:
        now = self._roll()
        return self._remain, max(0, math.ceil(self._end - now))

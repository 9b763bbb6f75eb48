"""Decides, request by request and deterministically, which configured fault fires."""

from __future__ import annotations

from collections import Counter
from random import Random
from typing import TypeVar

from services.esi_sim.faults import FaultConfig, FaultRule, RouteKind
from services.esi_sim.gen_contracts import mix

T = TypeVar("T")

_FAULT_NAMES = (
    "html_5xx",
    "error_420",
    "rate_429",
    "timeout",
    "malformed_json",
    "items_gone",
    "page_shift",
)
_SALT_FAULTS = 64


class FaultInjector:
    """Applies a :class:`FaultConfig`; each fault has its own seeded generator and counter."""

    def __init__(self, seed: int, config: FaultConfig | None = None) -> None:
        self._default_seed = seed
        self.config = FaultConfig()
        self._rngs: dict[str, Random] = {}
        self._fired: Counter[str] = Counter()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration; counters and generators start afresh."""
        self.config = config
        seed = self._default_seed if config.seed is None else config.seed
        self._rngs = {
            name: Random(mix(seed, index, _SALT_FAULTS)) for index, name in enumerate(_FAULT_NAMES)
        }
        self._fired = Counter()

    def fired(self) -> dict[str, int]:
        """How often each fault fired since the configuration was set."""
        return dict(self._fired)

    def _fires(self, name: str, rule: FaultRule | None, kind: RouteKind) -> bool:
        if rule is None:
            return False
        routes = rule.routes if rule.routes is not None else self.config.routes
        if routes is not None and kind not in routes:
            return False
        if rule.count is not None and self._fired[name] >= rule.count:
            return False
        if rule.probability < 1.0 and self._rngs[name].random() >= rule.probability:
            return False
        self._fired[name] += 1
        return True

    def _pick(self, name: str, options: list[T]) -> T:
        if len(options) == 1:
            return options[0]
        return options[int(self._rngs[name].random() * len(options))]

    def error_420(self, kind: RouteKind) -> bool:
        return self._fires("error_420", self.config.error_420, kind)

    def rate_429(self, kind: RouteKind) -> int | None:
        """``Retry-After`` seconds if the request is rate limited."""
        rule = self.config.rate_429
        if rule is None or not self._fires("rate_429", rule, kind):
            return None
        return rule.retry_after

    def timeout(self, kind: RouteKind) -> float | None:
        """Seconds to stall before answering."""
        rule = self.config.timeout
        if rule is None or not self._fires("timeout", rule, kind):
            return None
        return rule.seconds

    def html_5xx(self, kind: RouteKind) -> int | None:
        """Status of an HTML gateway error to answer with."""
        rule = self.config.html_5xx
        if rule is None or not self._fires("html_5xx", rule, kind):
            return None
        return self._pick("html_5xx", list(rule.statuses))

    def malformed_json(self, kind: RouteKind) -> bool:
        return self._fires("malformed_json", self.config.malformed_json, kind)

    def items_gone(self, kind: RouteKind, contract_id: int) -> int | None:
        """Status (204, 403 or 404) to answer an items/bids request with, if gone."""
        rule = self.config.items_gone
        if rule is None or kind not in ("items", "bids"):
            return None
        if rule.contract_ids and contract_id not in rule.contract_ids:
            return None
        if not self._fires("items_gone", rule, kind):
            return None
        return self._pick("items_gone", list(rule.statuses))

    def page_shift(self, kind: RouteKind, region_id: int, page: int) -> bool:
        """Whether the world must advance before serving this list page."""
        rule = self.config.page_shift
        if rule is None or kind != "contracts" or page < rule.min_page:
            return False
        if rule.region_ids is not None and region_id not in rule.region_ids:
            return False
        return self._fires("page_shift", rule, kind)

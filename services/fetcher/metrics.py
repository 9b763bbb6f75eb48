from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ESI_REQUESTS = Counter(
    "hangar_fetcher_esi_requests_total",
    "ESI responses by route kind and status",
    ["route", "status"],
)
ESI_NOT_MODIFIED = Counter(
    "hangar_fetcher_esi_not_modified_total", "304 answers to conditional list requests"
)
ERROR_LIMIT_REMAIN = Gauge(
    "hangar_fetcher_esi_error_limit_remain", "X-ESI-Error-Limit-Remain of the newest response"
)
GOVERNOR_PAUSES = Counter(
    "hangar_fetcher_governor_pauses_total", "Times the governor paused every request", ["reason"]
)
INVALID_CONTRACTS = Counter(
    "hangar_fetcher_invalid_contracts_total",
    "List entries that failed validation and were skipped (never published)",
)
POISONED = Counter(
    "hangar_fetcher_poisoned_total",
    "Contracts given up, with a poison record: repeated enrichment failures, or too large",
)
OVERSIZED = Counter(
    "hangar_fetcher_oversized_contracts_total",
    "Contracts whose items alone exceed the message limit (given up: never split)",
)
ENRICHMENT_QUEUE = Gauge("hangar_fetcher_enrichment_queue", "Contracts waiting for their items")
SWEEP_SECONDS = Histogram(
    "hangar_fetcher_sweep_seconds",
    "Duration of a region's complete sweep",
    ["region"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
SWEEP_AGE = Gauge(
    "hangar_fetcher_sweep_generation_timestamp", "ESI generation of the newest sweep", ["region"]
)
SWEEPS_DEGRADED = Counter(
    "hangar_fetcher_sweeps_degraded_total",
    "Sweeps abandoned (mixed generations or errors)",
    ["region"],
)
SWEEPS_UNPUBLISHED = Counter(
    "hangar_fetcher_sweeps_unpublished_total",
    "Consistent sweeps not published because an invalid list entry had no readable contract id",
    ["region"],
)
MESSAGES_PUBLISHED = Counter(
    "hangar_fetcher_messages_published_total", "Messages stored by JetStream", ["kind"]
)
CONTRACTS_PUBLISHED = Counter(
    "hangar_fetcher_contracts_published_total", "New contracts published with their items"
)

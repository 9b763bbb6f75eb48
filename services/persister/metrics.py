from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_APPLIED = Counter(
    "hangar_persister_messages_applied_total", "Messages committed to the database", ["kind"]
)
ROWS_WRITTEN = Counter("hangar_persister_rows_written_total", "Rows inserted or updated", ["table"])
CONTRACTS_MARKED_GONE = Counter(
    "hangar_persister_contracts_marked_gone_total", "Contracts a sweep no longer listed"
)
BATCH_SECONDS = Histogram(
    "hangar_persister_batch_seconds",
    "Time to apply and commit one fetch of messages",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REDELIVERIES = Counter("hangar_persister_redeliveries_total", "Messages received more than once")
RETRIES = Counter("hangar_persister_retries_total", "Messages handed back for a later retry")
DEAD_LETTERS = Counter(
    "hangar_persister_dead_letters_total", "Messages moved to the dead-letter stream"
)
CONSUMER_PENDING = Gauge(
    "hangar_persister_consumer_pending", "Messages in the stream not yet delivered (lag)"
)

from __future__ import annotations

from prometheus_client import Counter

BATCHES = Counter("hangar_notifier_batches_matched_total", "Contracts batches matched.")
ALERTS = Counter("hangar_notifier_alerts_total", "Alerts recorded (one per search and contract).")
WAITS = Counter(
    "hangar_notifier_visibility_waits_total",
    "Batches handed back because the persister had not committed all their contracts yet.",
)
WEBHOOK_ATTEMPTS = Counter("hangar_notifier_webhook_attempts_total", "Webhook calls attempted.")

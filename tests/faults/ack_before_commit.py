"""A deliberately broken persister, for proving that the fault suite catches a broken invariant.

``python -m tests.faults.ack_before_commit persister`` runs the real ``hangar-bay`` command
line, except that inside this process only the consumer's fetch handler acks every message of
a fetch *before* applying it (ack-before-commit). A SIGKILL between the ack and the commit
then loses the fetch: JetStream never redelivers it and the database never gets it. The
production code is not touched.
"""

from __future__ import annotations

import asyncpg
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from common.subjects import Subjects
from services.cli import app
from services.persister import consumer
from services.persister.applier import Outcome, apply_deliveries
from services.persister.settings import PersisterSettings


async def handle_fetch_acking_first(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    settings: PersisterSettings,
    messages: list[Msg],
) -> Outcome:
    """The bug: settle first (ack everything), commit afterwards."""
    for message in messages:
        await message.ack_sync(timeout=consumer.ACK_TIMEOUT_SECONDS)
    deliveries = [consumer.delivery_of(m) for m in messages]
    outcome = await apply_deliveries(pool, deliveries)
    subjects = Subjects(settings.name_prefix)
    for rejected in outcome.rejected:
        await consumer.dead_letter(js, subjects, deliveries[rejected.index], rejected)
    return outcome


def main() -> None:
    consumer.handle_fetch = handle_fetch_acking_first
    app(prog_name="hangar-bay")


if __name__ == "__main__":
    main()

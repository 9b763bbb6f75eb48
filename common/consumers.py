"""The live durable pull consumers of the stream (the persister's, the notifier's): one shape.

Every message is acked explicitly by its handler, after what it did is committed; the server
redelivers without limit (``max_deliver=-1``): JetStream would silently stop delivering a
message after ``max_deliver`` attempts, and a database outage would lose it. Each consumer
decides itself what a message that keeps failing becomes (the persister dead-letters it).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from common.subjects import Subjects

#: Unsettled messages a consumer may hold, per message fetched at once (and at least 1,000).
ACK_PENDING_PER_FETCHED = 8


def live_consumer_config(
    durable: str, filter_subject: str, *, ack_wait_seconds: float, fetch_batch: int
) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_seconds,
        max_deliver=-1,
        max_ack_pending=max(1000, fetch_batch * ACK_PENDING_PER_FETCHED),
        filter_subject=filter_subject,
    )


async def live_pull_subscription(
    js: JetStreamContext, subjects: Subjects, config: ConsumerConfig
) -> JetStreamContext.PullSubscription:
    """Bind to the durable consumer ``config`` names (created with ``config`` if missing)."""
    assert config.durable_name is not None
    assert config.filter_subject is not None
    return await js.pull_subscribe(
        config.filter_subject,
        durable=config.durable_name,
        stream=subjects.stream,
        config=config,
    )

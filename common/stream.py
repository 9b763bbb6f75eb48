"""The JetStream stream that is Hangar Bay's log, and its dead-letter stream.

Retention follows churn, not polling: every contracts or bids batch has a subject of its own
and a region's sweep always the same one, so ``max_msgs_per_subject=1`` keeps every batch but
only the newest sweep of each region. EVE contracts live at most four weeks (plus the days a
courier may take), so batches older than ``max_age`` describe nothing live.

When ``max_bytes`` is reached the stream refuses new messages (``discard: new``) instead of
deleting its oldest ones: with ``discard: old`` a batch the persister has not consumed yet
would vanish without anyone being told. Refused, the fetcher's publish fails, nothing is
recorded as published, and the region's cycle fails and is retried until there is room (an
operator raises ``max_bytes`` or ``max_age`` frees space). The per-subject limit still
replaces a region's previous sweep, which the newer one supersedes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tenacity
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from common.settings import HangarSettings
from common.subjects import Subjects

DAY = 24 * 3600
#: How long a process waits at start for JetStream to answer the stream setup (a cluster still
#: forming or electing a leader, a server restarting) before it gives up.
SETUP_PATIENCE_SECONDS = 120.0
#: What JetStream answers, or fails to, while it cannot serve the setup yet.
JETSTREAM_UNAVAILABLE = (NatsTimeoutError, NoRespondersError, ServiceUnavailableError)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamLimits:
    max_age_seconds: float = 35 * DAY
    max_bytes: int = 20 * 1024**3
    max_msg_size: int = 8 * 1024**2
    duplicate_window_seconds: float = 30 * 60
    replicas: int = 1


def stream_limits(settings: HangarSettings) -> StreamLimits:
    """The limits a process asks for, from its settings."""
    return StreamLimits(replicas=settings.stream_replicas)


def stream_config(subjects: Subjects, limits: StreamLimits) -> StreamConfig:
    return StreamConfig(
        name=subjects.stream,
        subjects=[subjects.all_events],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=limits.max_age_seconds,
        max_bytes=limits.max_bytes,
        max_msg_size=limits.max_msg_size,
        max_msgs_per_subject=1,
        discard=DiscardPolicy.NEW,
        discard_new_per_subject=False,
        duplicate_window=limits.duplicate_window_seconds,
        num_replicas=limits.replicas,
        description="Hangar Bay: contracts with items, region sweeps and auction bids",
    )


def dead_letter_config(subjects: Subjects, limits: StreamLimits) -> StreamConfig:
    return StreamConfig(
        name=subjects.dead_letter_stream,
        subjects=[subjects.dead_letter],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=90 * DAY,
        max_msg_size=limits.max_msg_size * 2,
        duplicate_window=limits.duplicate_window_seconds,
        num_replicas=limits.replicas,
        description="Hangar Bay: messages that could not be applied, with the reason",
    )


class StreamSetupError(RuntimeError):
    """A stream could not be created or brought to the configured limits; the message says
    which stream, what it has, what was asked and what to do."""


async def ensure_streams(
    js: JetStreamContext, subjects: Subjects, limits: StreamLimits | None = None
) -> None:
    """Create the streams, or bring an existing one's limits (and replica count) up to date.

    A replica count the servers cannot give (more replicas than JetStream nodes) or cannot
    change to is an error naming the stream and both counts, never silently ignored.
    """
    limits = limits or StreamLimits()
    for config in (stream_config(subjects, limits), dead_letter_config(subjects, limits)):
        async for attempt in tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(JETSTREAM_UNAVAILABLE),
            wait=tenacity.wait_random_exponential(multiplier=0.5, max=5),
            stop=tenacity.stop_after_delay(SETUP_PATIENCE_SECONDS),
            before_sleep=lambda state: log.warning(
                "JetStream did not answer the stream setup, retrying",
                extra={"error": repr(state.outcome.exception() if state.outcome else None)},
            ),
            reraise=True,
        ):
            with attempt:
                await _ensure_stream(js, config, limits)


async def _ensure_stream(js: JetStreamContext, config: StreamConfig, limits: StreamLimits) -> None:
    name = str(config.name)
    try:
        existing = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except ServiceUnavailableError:
            raise
        except APIError as error:
            raise StreamSetupError(
                f"cannot create stream {name} with {limits.replicas} replica(s) "
                f"(HANGAR_STREAM_REPLICAS): {error.description or error}"
            ) from error
        return
    current = existing.config.num_replicas or 1
    try:
        await js.update_stream(config)
    except ServiceUnavailableError:
        raise
    except APIError as error:
        raise StreamSetupError(
            f"stream {name} has {current} replica(s), HANGAR_STREAM_REPLICAS asks for "
            f"{limits.replicas}, and the servers refused the change: "
            f"{error.description or error}. Set HANGAR_STREAM_REPLICAS={current}, or give "
            f"the cluster at least {limits.replicas} JetStream nodes."
        ) from error
    updated = await js.stream_info(name)
    if (updated.config.num_replicas or 1) != limits.replicas:
        raise StreamSetupError(
            f"stream {name} still has {updated.config.num_replicas or 1} replica(s) after "
            f"asking for {limits.replicas} (HANGAR_STREAM_REPLICAS)"
        )

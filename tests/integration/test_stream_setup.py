"""Stream replicas (``HANGAR_STREAM_REPLICAS``): created and updated as asked on a cluster, and
a count the servers cannot give is an error that names the stream and both counts."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from common.settings import HangarSettings
from common.stream import (
    SETUP_PATIENCE_SECONDS,
    StreamLimits,
    StreamSetupError,
    ensure_streams,
)
from common.subjects import Subjects
from tests.support.nats_cluster import NatsCluster, nats_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[NatsCluster]:
    with nats_cluster(Path(tempfile.mkdtemp(prefix="hangar-bay-cluster-"))) as started:
        yield started


async def test_a_single_server_refuses_three_replicas_clearly(settings: HangarSettings) -> None:
    subjects = Subjects(settings.name_prefix)
    client = await nats.connect(settings.nats_url)
    try:
        js = client.jetstream()
        with pytest.raises(StreamSetupError, match=r"cannot create stream .* 3 replica"):
            await ensure_streams(js, subjects, StreamLimits(replicas=3))

        await ensure_streams(js, subjects, StreamLimits(replicas=1))
        with pytest.raises(StreamSetupError) as refused:
            await ensure_streams(js, subjects, StreamLimits(replicas=3))
        message = str(refused.value)
        assert subjects.stream in message
        assert "has 1 replica(s)" in message
        assert "asks for 3" in message
        info = await js.stream_info(subjects.stream)
        assert info.config.num_replicas in (None, 1)
    finally:
        await client.close()


async def test_a_cluster_creates_and_scales_replicated_streams(
    cluster: NatsCluster, name_prefix: str
) -> None:
    subjects = Subjects(name_prefix)
    client = await nats.connect(cluster.urls.split(","))
    try:
        js = client.jetstream()
        await ensure_streams(js, subjects, StreamLimits(replicas=3))
        for stream in (subjects.stream, subjects.dead_letter_stream):
            assert (await js.stream_info(stream)).config.num_replicas == 3
        cluster.wait_for_leader(subjects.stream)
        cluster.wait_until_current(subjects.stream)

        await ensure_streams(js, subjects, StreamLimits(replicas=1))
        assert (await js.stream_info(subjects.stream)).config.num_replicas == 1
        await ensure_streams(js, subjects, StreamLimits(replicas=3))
        assert (await js.stream_info(subjects.stream)).config.num_replicas == 3
    finally:
        await client.close()


async def test_stream_setup_waits_for_a_cluster_still_forming(name_prefix: str) -> None:
    """One node of three up: JetStream has no quorum and cannot answer. The setup waits (it
    does not exit the process) and completes once the other nodes join."""
    work_dir = Path(tempfile.mkdtemp(prefix="hangar-bay-forming-"))
    with nats_cluster(work_dir, started=1) as forming:
        client = await nats.connect(forming.nodes[0].url)
        try:
            setup = asyncio.create_task(
                ensure_streams(client.jetstream(), Subjects(name_prefix), StreamLimits(replicas=3))
            )
            done, _ = await asyncio.wait({setup}, timeout=3)
            assert not done, "the setup ended while JetStream could not answer"
            for node in forming.nodes[1:]:
                node.start()
            await asyncio.wait_for(setup, timeout=SETUP_PATIENCE_SECONDS)
            info = await client.jetstream().stream_info(Subjects(name_prefix).stream)
            assert info.config.num_replicas == 3
        finally:
            await client.close()


def test_the_replica_count_is_a_setting() -> None:
    assert HangarSettings().stream_replicas == 1
    assert HangarSettings(stream_replicas=3).stream_replicas == 3
    with pytest.raises(ValueError, match="stream_replicas"):
        HangarSettings(stream_replicas=0)

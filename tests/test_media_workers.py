"""Viewers served by media worker processes: spread over them, one copy of each frame per
worker, and a worker that dies costs only its own viewers' connections."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import AsyncIterator

import pytest

from directlive.errors import BadRequest
from streamer import AnyViewerSession, MediaConfig, Streamer
from streamer.workers.link import WorkerLink
from streamer.workers.pool import WorkerPool
from streamer.workers.remote_viewer import RemoteViewerSession
from tests.media.peers import Viewer, publish, video_source, wait_for, watching
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack


def pool_of(streamer: Streamer) -> WorkerPool:
    assert streamer.workers is not None
    return streamer.workers


def link_of(streamer: Streamer, live_id: str, session_id: str) -> WorkerLink:
    session = streamer.session(live_id, session_id)
    assert isinstance(session, RemoteViewerSession)
    return next(link for link in pool_of(streamer).links() if link.index == session.worker_index)


def idle(link: WorkerLink) -> bool:
    return not link.session_count and not link.feeds.all()


@pytest.fixture
async def gone() -> list[AnyViewerSession]:
    return []


@pytest.fixture
async def streamer(gone: list[AnyViewerSession]) -> AsyncIterator[Streamer]:
    async def on_viewer_gone(session: AnyViewerSession) -> None:
        gone.append(session)

    config = MediaConfig(publisher_grace_seconds=0.5, workers=2, ice_addresses=("127.0.0.1",))
    s = Streamer(config, on_viewer_gone=on_viewer_gone)
    s.start()
    yield s
    await s.close()


async def test_viewers_spread_over_workers_each_fed_once(streamer: Streamer) -> None:
    live_id = streamer.new_live_id()
    video = CounterVideoTrack(fps=30)
    publisher = await publish(
        [video, ToneAudioTrack()], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewers = [Viewer() for _ in range(4)]
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        for i, viewer in enumerate(viewers):
            await viewer.watch(watching(streamer, live_id, f"v{i}", sessions))
        await wait_for(
            lambda: all(len(v.received.counters) >= 60 for v in viewers), 30, "60 frames each"
        )
        await wait_for(
            lambda: all(v.received.audio_frames > 0 for v in viewers), 10, "decoded audio"
        )
        for viewer in viewers:
            counters = viewer.received.counters
            assert viewer.received.sizes == {(640, 480)}
            assert all(b > a for a, b in itertools.pairwise(counters)), counters
            assert counters[-1] - counters[0] <= len(counters) + 5, "the viewer lost frames"
        links = [link_of(streamer, live_id, s) for s in sessions]
        assert sorted(link.index for link in links) == [0, 0, 1, 1], "least loaded first"
        pids = {link.process.pid for link in links}
        assert len(pids) == 2
        assert os.getpid() not in pids
        for link in pool_of(streamer).links():
            # Two viewers on the worker, one feed per source: each frame crosses once.
            assert link.session_count == 2
            assert sorted(feed.source.kind for feed in link.feeds.all()) == ["audio", "video"]
            sent = {feed.source.kind: feed.frames_sent for feed in link.feeds.all()}
            assert sent["video"] <= video.sent
        await streamer.refresh_forwarding_stats()
        totals = streamer.forwarding_totals()
        assert totals.frames_forwarded >= 4 * 60
        assert totals.frames_received <= streamer.stats.frames_received, "counted once"
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_leave_stops_the_feed_and_end_closes_every_session(streamer: Streamer) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30)], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewers = [Viewer(audio=False) for _ in range(3)]
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        for i, viewer in enumerate(viewers):
            await viewer.watch(watching(streamer, live_id, f"v{i}", sessions))
        await wait_for(
            lambda: all(len(v.received.counters) >= 20 for v in viewers), 30, "20 frames each"
        )
        alone = link_of(streamer, live_id, sessions[1])
        assert alone.index == 1
        assert alone.session_count == 1
        await streamer.leave(live_id, sessions[1])
        assert not alone.session_count
        assert not alone.feeds.all(), "no viewer left on the worker: no copy of the frames"
        await wait_for(
            lambda: viewers[1].pc.connectionState in ("failed", "closed"),
            40,
            "the left viewer's connection closing",
        )
        decoded = len(viewers[0].received.counters)
        await wait_for(
            lambda: len(viewers[0].received.counters) >= decoded + 15, 10, "others go on"
        )
        ended = await streamer.end(live_id)
        assert sorted(s.session_id for s in ended) == sorted([sessions[0], sessions[2]])
        assert all(idle(link) for link in pool_of(streamer).links())
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_a_dead_worker_loses_its_viewers_only_and_is_restarted(
    streamer: Streamer, gone: list[AnyViewerSession]
) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30)], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewers = [Viewer(audio=False) for _ in range(3)]
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        for i, viewer in enumerate(viewers[:2]):
            await viewer.watch(watching(streamer, live_id, f"v{i}", sessions))
        await wait_for(
            lambda: all(len(v.received.counters) >= 20 for v in viewers[:2]), 30, "20 frames"
        )
        victim = link_of(streamer, live_id, sessions[1])
        os.kill(victim.process.pid, signal.SIGKILL)
        await wait_for(lambda: [s.session_id for s in gone] == [sessions[1]], 10, "lost viewer")
        assert sessions[1] not in streamer.get(live_id).viewers
        decoded = len(viewers[0].received.counters)
        await wait_for(
            lambda: len(viewers[0].received.counters) >= decoded + 30, 10, "the other goes on"
        )
        pool = pool_of(streamer)
        await wait_for(lambda: len(pool.links()) == 2, 15, "the worker started again")
        assert pool.restarts == 1
        assert victim.process.pid not in {link.process.pid for link in pool.links()}
        await viewers[2].watch(watching(streamer, live_id, "v2", sessions))
        await wait_for(lambda: len(viewers[2].received.counters) >= 20, 30, "a new viewer")
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_a_bad_offer_is_refused_by_the_worker_precisely(streamer: Streamer) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30)], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        with pytest.raises(BadRequest) as refused:
            await streamer.watch(live_id, "bob", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nx")
        assert refused.value.code == "bad_sdp"
        assert not streamer.get(live_id).viewers
        assert all(idle(link) for link in pool_of(streamer).links())
    finally:
        await publisher.close()

"""A media worker is fed a layer only while one of its viewers is on it or moving to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from benchmarks.layered_media import LayerLoop, encode_layers, layer_tracks
from streamer import MediaConfig, Streamer
from streamer.layers.layer_set import LayerSet
from streamer.workers.feeds import SourceFeed
from streamer.workers.layer_feeds import UNWANTED_GRACE
from tests.media.layered import DecodingViewer, increasing, publish_layers
from tests.media.peers import wait_for, watching

LOOP_FRAMES = 120
WAIT = UNWANTED_GRACE + 10
"""Seconds to wait for a feed to stop: the grace, and the loaded machine's slack."""


@pytest.fixture(scope="module")
def loops() -> list[LayerLoop]:
    return encode_layers(seconds=LOOP_FRAMES / 30)


@pytest.fixture
async def streamer() -> AsyncIterator[Streamer]:
    config = MediaConfig(publisher_grace_seconds=0.5, workers=1, ice_addresses=("127.0.0.1",))
    s = Streamer(config)
    s.start()
    yield s
    await s.close()


def feeds_of(streamer: Streamer, layers: LayerSet) -> list[SourceFeed]:
    """The worker's feeds of ``layers``, lowest layer first."""
    assert streamer.workers is not None
    (link,) = streamer.workers.links()
    by_source = {id(feed.source): feed for feed in link.feeds.all()}
    return [by_source[id(source)] for source in layers.ranked()]


async def test_a_worker_is_fed_only_the_layers_its_viewers_are_on(
    streamer: Streamer, loops: list[LayerLoop]
) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish_layers(
        layer_tracks(loops), lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    first, joiner = DecodingViewer(), DecodingViewer()
    sessions: list[str] = []

    try:
        live = streamer.get(live_id)
        await wait_for(lambda: len(live.publishers["alice"].layer_sets) == 1, 10, "layers")
        layers = live.publishers["alice"].layer_sets[0]
        await wait_for(lambda: all(s.has_keyframe for s in layers.sources), 10, "keyframes")
        await first.watch(watching(streamer, live_id, "bob", sessions))
        low, middle, top = feeds_of(streamer, layers)

        # Everyone is on the top layer: the two below stop crossing to the worker.
        await wait_for(lambda: low.paused and middle.paused, WAIT, "the lower layers paused")
        assert not top.paused
        sent, held_back = low.frames_sent, low.frames_held_back
        top_sent = top.frames_sent
        await wait_for(lambda: top.frames_sent >= top_sent + 30, 10, "top layer frames")
        assert low.frames_sent == sent, "a layer nobody watches was fed"
        assert low.frames_held_back >= held_back + 20
        assert first.size == (640, 480)

        # Capped to the lowest: that layer is fed again (from its GOP), the top one stops.
        await streamer.session(live_id, sessions[0]).set_max_layer(0)
        await wait_for(lambda: first.size == (160, 120), 10, "the capped viewer moved down")
        assert not low.paused
        assert low.resumes == 1
        await wait_for(lambda: top.paused, WAIT, "the top layer paused")
        count, sent = len(first.frames), low.frames_sent
        await wait_for(lambda: len(first.frames) >= count + 30, 10, "low layer frames")
        assert low.frames_sent >= sent + 30
        assert middle.paused
        assert middle.resumes == 0, "nobody moved through the middle"

        # A new viewer starts on the paused top layer: fed again first, so it starts there.
        await joiner.watch(watching(streamer, live_id, "carol", sessions))
        assert not top.paused
        assert top.resumes == 1
        await wait_for(lambda: len(joiner.frames) >= 30, 15, "the joiner's frames")
        assert joiner.frames[0].size == (640, 480), "it started on the top layer"

        for viewer in (first, joiner):
            assert viewer.decoder_errors == []
            assert all(f.counter is not None for f in viewer.frames), "a frame came out broken"
            assert increasing(viewer.frames, LOOP_FRAMES), [f.counter for f in viewer.frames]
    finally:
        await first.close()
        await joiner.close()
        await publisher.close()

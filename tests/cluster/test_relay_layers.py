"""The layers of a layered picture cross the relay link, so viewers on edge nodes choose and
switch layers as the origin's do, on the edge's main process and in its media workers; a layer
nothing on an edge reads stops crossing until something there needs it again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.layered_media import LayerLoop, encode_layers, layer_tracks
from fanout import MemoryStore, Store
from signaling.appkeys import BEACON, STREAMER
from streamer.relay.edge import RelayedParticipant
from tests.cluster.tcp_proxy import TcpProxy
from tests.media.layered import DecodingViewer, publish_layers
from tests.media.peers import Exchange, wait_for
from tests.server import RunningServer, SocketClient, running_server, server_config
from tests.test_layers_http import metric, whep

LOW, MIDDLE, TOP = (160, 120), (320, 240), (640, 480)
LAYER_GRACE = 1.0


@pytest.fixture(scope="module")
def loops() -> list[LayerLoop]:
    return encode_layers(seconds=2.0)


@asynccontextmanager
async def node(
    tmp_path: Path, store: Store, name: str, workers: int
) -> AsyncIterator[RunningServer]:
    config = server_config(tmp_path / name, node_id=name)
    config = replace(
        config,
        media=replace(
            config.media,
            workers=workers,
            udp_port=None,
            relay_idle_seconds=0.3,
            relay_layer_grace_seconds=LAYER_GRACE,
        ),
    )
    async with running_server(config, store) as server:
        beacon = server.app[BEACON]
        beacon.url = server.url  # the port is known only now
        await beacon.beat()
        yield server


def socket_watch(socket: SocketClient, live_id: str, max_layer: int) -> Exchange:
    async def exchange(sdp: str) -> str:
        reply = await socket.request(
            {"type": "watch", "live_id": live_id, "sdp": sdp, "max_layer": max_layer}
        )
        assert reply["type"] == "watch.answer", json.dumps(reply)
        return str(reply["sdp"])

    return exchange


async def cap(socket: SocketClient, live_id: str, session_id: str, max_layer: int | None) -> None:
    answer = await socket.request(
        {"type": "layer", "live_id": live_id, "session_id": session_id, "max_layer": max_layer}
    )
    assert answer["type"] == "layer.ok", json.dumps(answer)


async def test_edge_viewers_choose_and_switch_layers_of_a_relayed_picture(
    tmp_path: Path, loops: list[LayerLoop]
) -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        origin = await stack.enter_async_context(node(tmp_path, store, "a", workers=0))
        edge = await stack.enter_async_context(node(tmp_path, store, "b", workers=0))
        worker_edge = await stack.enter_async_context(node(tmp_path, store, "c", workers=1))
        proxy = TcpProxy(int(origin.url.rsplit(":", 1)[1]))
        await proxy.start()
        stack.push_async_callback(proxy.close)
        beacon = origin.app[BEACON]
        beacon.url = proxy.url  # edges reach the origin through the proxy
        await beacon.beat()
        live_ids: list[str] = []

        async def go_live(sdp: str) -> str:
            live_id, answer = await origin.whip("alice", sdp)
            live_ids.append(live_id)
            return answer

        tracks = layer_tracks(loops)  # top first
        publisher = await publish_layers(tracks, go_live)
        stack.push_async_callback(publisher.close)
        live_id = live_ids[0]
        viewers = [DecodingViewer() for _ in range(3)]
        for viewer in viewers:
            stack.push_async_callback(viewer.close)
        low, top, on_worker = viewers

        # On b's main process: a capped WHEP viewer starts on the lowest layer.
        locations: list[str] = []
        await low.watch(whep(edge, "bob", live_id, locations, "?max_layer=0"))
        await top.watch(whep(edge, "carol", live_id, locations))
        await wait_for(lambda: len(low.frames) >= 20 and len(top.frames) >= 20, 20, "b decodes")
        assert low.size == LOW
        assert top.size == TOP
        relayed = edge.app[STREAMER].get(live_id).publishers["alice"]
        assert isinstance(relayed, RelayedParticipant)
        [layers] = relayed.layer_sets
        assert [layers.size_of(s) for s in layers.ranked()] == [LOW, MIDDLE, TOP]
        assert relayed.viewer_sources == [layers.primary]
        assert relayed.best_sources == [layers.top()]
        assert await metric(edge, 'directlive_layer_viewers{layer="0"}') == 1
        assert await metric(edge, 'directlive_layer_viewers{layer="2"}') == 1
        low_copy, middle_copy, top_copy = layers.ranked()
        b = edge.app[STREAMER]
        # Nothing on b reads the middle layer: b stops taking it (its copy forgets its GOP).
        await wait_for(lambda: middle_copy.last_frame is None, 10, "b drops the middle layer")
        assert b.relay_stats.layers_dropped == 1
        assert low_copy.last_frame is not None
        assert top_copy.last_frame is not None

        # The socket's layer message moves carol's viewer down (to the dropped layer, which
        # comes back); each frame stays readable.
        carol = await edge.socket("carol")
        stack.push_async_callback(carol.close)
        asked = tracks[1].keyframe_requests
        await cap(carol, live_id, locations[1].rsplit("/", 1)[1], 1)
        await wait_for(lambda: top.size == MIDDLE, 10, "carol's viewer moved down on b")
        # The switch asked the middle layer for a keyframe, up the link to the publisher.
        await wait_for(lambda: tracks[1].keyframe_requests > asked, 10, "a keyframe asked")
        count = len(top.frames)
        await wait_for(lambda: len(top.frames) >= count + 15, 10, "frames after the switch")
        assert await metric(edge, 'directlive_layer_viewers{layer="1"}') == 1
        assert await metric(edge, "directlive_layer_switches_down_total") >= 1
        await wait_for(lambda: top_copy.last_frame is None, 10, "b drops the top layer")
        assert middle_copy.last_frame is not None

        # On c's media worker: a socket watch capped at the middle layer, then at the lowest
        # one, which nothing on c read (so c had dropped it).
        dave = await worker_edge.socket("dave")
        stack.push_async_callback(dave.close)
        await on_worker.watch(socket_watch(dave, live_id, max_layer=1))
        await wait_for(lambda: len(on_worker.frames) >= 10, 20, "c's worker decodes")
        assert on_worker.size == MIDDLE
        c = worker_edge.app[STREAMER]
        on_c = c.get(live_id).publishers["alice"]
        assert isinstance(on_c, RelayedParticipant)
        low_on_c, middle_on_c, top_on_c = on_c.layer_sets[0].ranked()
        unread = (low_on_c, top_on_c)
        await wait_for(lambda: all(s.last_frame is None for s in unread), 10, "c drops two")
        assert middle_on_c.last_frame is not None
        session_id = next(iter(c.get(live_id).viewers))
        await cap(dave, live_id, session_id, 0)
        await wait_for(lambda: on_worker.size == LOW, 10, "dave's viewer moved down on c")
        count = len(on_worker.frames)
        await wait_for(lambda: len(on_worker.frames) >= count + 15, 10, "frames after the move")
        assert await metric(worker_edge, 'directlive_layer_viewers{layer="0"}') == 1
        assert await metric(worker_edge, "directlive_layer_switches_down_total") >= 1

        for viewer in viewers:
            assert viewer.decoder_errors == []
            assert all(frame.counter is not None for frame in viewer.frames)

        # A link that drops and comes back keeps the edge's layer set and its viewers on it.
        proxy.cut()
        await wait_for(lambda: b.relay_stats.links_opened == 2, 10, "b reconnects")
        count = len(top.frames)
        await wait_for(lambda: len(top.frames) >= count + 15, 10, "carol's viewer decodes on")
        assert top.size == MIDDLE
        assert relayed.layer_sets == [layers]
        assert relayed.layer_sets[0] is layers
        await wait_for(lambda: c.relay_links_open == 1, 10, "c is back")

        # Each frame of each layer crosses once per edge, or is held back for an edge that
        # dropped the layer.
        a = origin.app[STREAMER]
        assert a.relay_links_of(live_id) == 2
        await wait_for(lambda: top_copy.last_frame is None, 10, "b drops the top layer again")

        def counts() -> tuple[int, int]:
            relay = a.relay_stats
            crossed = relay.frames_sent + relay.frames_held_back + relay.frames_dropped
            return crossed, relay.frames_held_back

        (crossed, held), received = counts(), a.stats.frames_received
        await asyncio.sleep(1.0)
        crossed, held = (now - then for now, then in zip(counts(), (crossed, held), strict=True))
        received = a.stats.frames_received - received
        assert received > 0
        assert crossed == received * 2
        assert held >= received / 3  # at least b's top layer

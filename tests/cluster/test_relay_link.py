"""Relay links between two in-process nodes sharing one store: an edge serves a live
published to its origin through one link, whatever its number of viewers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from directlive.node_keys import node_key, sign_request
from fanout import MemoryStore, Store
from signaling.appkeys import BEACON, FANOUT, STREAMER
from tests.cluster.tcp_proxy import TcpProxy
from tests.media.peers import Viewer, wait_for
from tests.server import (
    SECRET,
    RunningServer,
    WhepRefused,
    go_live,
    running_server,
    server_config,
)


@asynccontextmanager
async def node(
    tmp_path: Path, store: Store, name: str, **media: object
) -> AsyncIterator[RunningServer]:
    config = server_config(tmp_path / name, node_id=name)
    config = replace(
        config,
        media=replace(config.media, workers=0, relay_idle_seconds=0.3, **media),  # type: ignore[arg-type]
    )
    async with running_server(config, store) as server:
        beacon = server.app[BEACON]
        beacon.url = server.url  # the port is known only now
        await beacon.beat()
        yield server


RELAY_TASKS = ("RelayChannel.", "RelayPull.", "EdgeLink.", "OriginLink.", "EdgeLives.")


def relay_tasks() -> list[str]:
    """Running tasks of the relay code (both in-process nodes share this loop)."""
    names = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
    return [name for name in names if name.startswith(RELAY_TASKS)]


async def watch_on(server: RunningServer, user: str, live_id: str) -> Viewer:
    viewer = Viewer()

    async def exchange(sdp: str) -> str:
        _, answer = await server.whep(user, live_id, sdp)
        return answer

    try:
        await viewer.watch(exchange)
    except BaseException:
        await viewer.close()
        raise
    return viewer


async def live_watched_on_edge(
    stack: AsyncExitStack, origin: RunningServer, edge: RunningServer, frames: int
) -> tuple[str, Viewer]:
    """Alice goes live on ``origin``; Bob watches on ``edge`` until ``frames`` decoded (both
    closed with ``stack``)."""
    live_id, publisher = await go_live(origin, "alice")
    stack.push_async_callback(publisher.close)
    viewer = await watch_on(edge, "bob", live_id)
    stack.push_async_callback(viewer.close)
    await wait_for(lambda: len(viewer.received.counters) >= frames, 15, "edge decodes")
    return live_id, viewer


async def test_edge_serves_a_live_of_its_origin_through_one_link(tmp_path: Path) -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        origin = await stack.enter_async_context(node(tmp_path, store, "a"))
        edge = await stack.enter_async_context(node(tmp_path, store, "b"))
        live_id, publisher = await go_live(origin, "alice")
        stack.push_async_callback(publisher.close)
        viewers = [await watch_on(edge, user, live_id) for user in ("bob", "carol")]
        for viewer in viewers:
            stack.push_async_callback(viewer.close)
        await wait_for(
            lambda: all(len(v.received.counters) >= 5 for v in viewers), 15, "edge decodes"
        )
        counters = viewers[0].received.counters
        assert counters == sorted(counters)

        a, b = origin.app[STREAMER], edge.app[STREAMER]
        assert a.relay_links_of(live_id) == 1
        assert b.is_relayed(live_id)
        directory = origin.app[FANOUT].directory
        assert await directory.origin(live_id) == "a"
        assert await directory.relays(live_id) == ["b"]
        # Each frame crosses once, whatever the number of viewers on the edge.
        sent = a.relay_stats.frames_sent
        assert sent > 0
        assert b.relay_stats.frames_received <= sent
        assert b.relay_stats.frames_received >= sent - 10  # in flight at most a few
        assert b.viewer_count == 2
        assert relay_tasks()  # the check below sees them while the link is open
        assert a.viewer_count == 0

        for viewer in viewers:
            await viewer.close()
        await wait_for(lambda: not b.is_relayed(live_id), 10, "the idle link closes")
        await wait_for(lambda: a.relay_links_of(live_id) == 0, 10, "the origin drops the link")
        await wait_for(lambda: b.relay_links_open == 0, 10, "no link left on the edge")
        await wait_for(lambda: not relay_tasks(), 5, "no relay task left on either node")
        assert not b.has_media(live_id)


async def test_host_ending_closes_edges_and_forgets_the_live(tmp_path: Path) -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        origin = await stack.enter_async_context(node(tmp_path, store, "a"))
        edge = await stack.enter_async_context(node(tmp_path, store, "b"))
        bob = await edge.socket("bob")
        stack.push_async_callback(bob.close)
        live_id, _ = await live_watched_on_edge(stack, origin, edge, 3)

        async with origin.http.delete(
            f"{origin.url}/whip/{live_id}", headers=origin.auth("alice")
        ) as response:
            assert response.status == 200
        await bob.next_of("live.ended", live_id=live_id)
        b = edge.app[STREAMER]
        await wait_for(lambda: not b.has_media(live_id), 10, "the edge closes its copy")
        assert b.relay_links_open == 0
        assert origin.app[STREAMER].relay_links_open == 0
        assert await origin.app[FANOUT].directory.live_keys(live_id) == []
        await wait_for(lambda: not relay_tasks(), 5, "no relay task left on either node")
        ended = [m for m in bob.messages if m.get("type") == "live.ended"]
        assert len(ended) == 1


async def test_a_forged_relay_link_gets_nothing(tmp_path: Path) -> None:
    store = MemoryStore()
    async with node(tmp_path, store, "a") as origin:
        live_id, publisher = await go_live(origin, "alice")
        try:
            headers = {"X-Directlive-Relay-Nonce": "00" * 16}
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(
                    f"{origin.url}/internal/relay/{live_id}", headers=headers
                )
                first = await ws.receive()
                assert first.type == aiohttp.WSMsgType.BINARY
                assert len(first.data) == 16
                await ws.send_bytes(b"\x00" * 64)  # not sealed with the node key
                closing = await ws.receive(timeout=5)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                await ws.close()
            assert origin.app[STREAMER].relay_links_of(live_id) == 0
            assert origin.app[STREAMER].relay_stats.frames_sent == 0
        finally:
            await publisher.close()


async def test_unknown_live_is_not_found_on_an_edge(tmp_path: Path) -> None:
    store = MemoryStore()
    async with node(tmp_path, store, "b") as edge:
        with pytest.raises(WhepRefused) as refused:
            await watch_on(edge, "bob", "no-such-live")
        assert refused.value.code == "live_not_found"


async def test_a_dropped_link_comes_back_while_the_origin_lives(tmp_path: Path) -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        origin = await stack.enter_async_context(node(tmp_path, store, "a"))
        edge = await stack.enter_async_context(node(tmp_path, store, "b"))
        port = int(origin.url.rsplit(":", 1)[1])
        proxy = TcpProxy(port)
        await proxy.start()
        stack.push_async_callback(proxy.close)
        beacon = origin.app[BEACON]
        beacon.url = proxy.url  # edges reach the origin through the proxy
        await beacon.beat()
        live_id, viewer = await live_watched_on_edge(stack, origin, edge, 5)
        counters = viewer.received.counters
        b = edge.app[STREAMER]
        assert b.relay_stats.links_opened == 1

        proxy.cut()  # the network drops the link; both nodes live on
        await wait_for(lambda: b.relay_stats.links_opened == 2, 10, "the edge reconnects")
        at = len(counters)
        await wait_for(lambda: len(counters) >= at + 10, 15, "the same viewer decodes on")
        assert counters[-1] > counters[at - 1]
        assert b.viewer_count == 1
        assert origin.app[STREAMER].relay_links_of(live_id) == 1
        assert await origin.app[FANOUT].directory.relays(live_id) == ["b"]
        assert proxy.connections == 2


async def test_an_origin_that_stops_ends_its_lives_on_edges_after_the_grace(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        edge = await stack.enter_async_context(node(tmp_path, store, "b"))
        async with node(tmp_path, store, "a") as origin:
            bob = await edge.socket("bob")
            stack.push_async_callback(bob.close)
            live_id, _ = await live_watched_on_edge(stack, origin, edge, 3)
        # The origin stopped gracefully: its heartbeat went with it, its live did not end.
        ended = await bob.next_of("live.ended", live_id=live_id)
        assert ended["reason"] == "host_connection_lost"
        b = edge.app[STREAMER]
        await wait_for(lambda: not b.has_media(live_id), 5, "the edge closes its copy")
        assert b.relay_links_open == 0


async def test_internal_routes_refuse_what_no_node_signed(tmp_path: Path) -> None:
    store = MemoryStore()
    async with node(tmp_path, store, "a") as origin:
        live_id, publisher = await go_live(origin, "alice")
        try:
            body = json.dumps({"user": "mallory", "sdp": "v=0", "whip": True}).encode()
            paths = (f"/internal/guest/{live_id}", f"/internal/live/{live_id}/end")
            for path in paths:
                forged = sign_request(node_key("not-the-secret"), "b", "POST", path, body)
                for headers in ({}, forged):
                    async with origin.http.post(
                        origin.url + path, data=body, headers=headers
                    ) as response:
                        assert response.status == 401
                        error = (await response.json())["error"]
                        assert error["code"] == "bad_node_signature"
            key = node_key(SECRET)
            path = f"/internal/live/{live_id}/end"
            signed = sign_request(key, "b", "POST", path, b'{"user": "mallory"}')
            async with origin.http.post(
                origin.url + path, data=b'{"user": "mallory"}', headers=signed
            ) as response:
                assert response.status == 403  # signed by a node, still not the host
                assert (await response.json())["error"]["code"] == "not_host"
            bad_bodies = ((b'{"user": ', "malformed_json"), (b"[1]", "bad_body"))
            for raw, code in bad_bodies:
                signed = sign_request(key, "b", "POST", path, raw)
                async with origin.http.post(origin.url + path, data=raw, headers=signed) as answer:
                    assert answer.status == 400
                    assert (await answer.json())["error"]["code"] == code
            async with origin.http.get(f"{origin.url}/internal/relay/{live_id}") as response:
                assert response.status == 400  # no nonce
            assert origin.app[STREAMER].has_media(live_id)
        finally:
            await publisher.close()


async def test_edge_viewers_keyframe_requests_go_up_coalesced_once_per_edge(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        origin = await stack.enter_async_context(node(tmp_path, store, "a"))
        edge = await stack.enter_async_context(node(tmp_path, store, "b"))
        live_id, viewer = await live_watched_on_edge(stack, origin, edge, 5)
        a, b = origin.app[STREAMER], edge.app[STREAMER]
        video = next(source for source, _ in b.sources(live_id) if source.kind == "video")
        tracks = [video.subscribe() for _ in range(20)]  # 20 more viewers of b's copy
        edge_before = b.stats.keyframe_requests_upstream
        origin_before = a.stats.keyframe_requests_upstream
        for _ in range(5):
            for track in tracks:
                track.request_keyframe()  # 100 requests (PLIs) at once on the edge
        # At most one at once and one deferred to the end of the interval, from the edge up
        # the link, and from the origin to the publisher.
        await wait_for(
            lambda: a.stats.keyframe_requests_upstream > origin_before, 10, "the request reached a"
        )
        # Nothing more may follow: watch one whole interval past the deferred request.
        await asyncio.sleep(2.5 * edge.app[STREAMER].config.keyframe_interval)
        assert 1 <= b.stats.keyframe_requests_upstream - edge_before <= 2
        assert 1 <= a.stats.keyframe_requests_upstream - origin_before <= 2
        for track in tracks:
            video.unsubscribe(track)
        decoded = len(viewer.received.counters)
        await wait_for(lambda: len(viewer.received.counters) > decoded + 5, 10, "still decoding")

"""WHIP in, WHEP out, through the real HTTP server, with real aiortc peers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from aiortc import RTCRtpReceiver

from signaling.appkeys import STREAMER
from streamer import MediaConfig
from streamer.publisher import PublisherSession
from streamer.viewer import ViewerSession
from tests.media.peers import Exchange, Viewer, client_pc, wait_for
from tests.media.tracks import CounterVideoTrack
from tests.server import RunningServer, WhepRefused, go_live, running_server, server_config


def whep_exchange(server: RunningServer, user: str, live_id: str) -> tuple[Exchange, list[str]]:
    locations: list[str] = []

    async def exchange(sdp: str) -> str:
        location, answer = await server.whep(user, live_id, sdp)
        locations.append(location)
        return answer

    return exchange, locations


async def test_whip_publish_whep_watch_and_host_ends(server: RunningServer) -> None:
    live_id, publisher = await go_live(server, "alice")
    assert len(live_id) >= 20, "live ids must be unguessable"
    socket = await server.socket("bob")
    viewer = Viewer()
    exchange, locations = whep_exchange(server, "bob", live_id)
    try:
        await viewer.watch(exchange)
        assert locations[0].startswith(f"/whep/{live_id}/")
        await wait_for(lambda: len(viewer.received.counters) >= 30, 15, "30 decoded frames")
        # The first 30 frames can all be the cached GOP; live audio may come just after.
        await wait_for(lambda: viewer.received.audio_frames > 0, 10, "decoded audio")

        async with server.http.delete(
            f"{server.url}/whip/{live_id}", headers=server.auth("bob")
        ) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "not_host"

        streamer = server.app[STREAMER]
        media = streamer.get(live_id)
        server_pcs = [
            p.pc for p in media.publishers.values() if isinstance(p, PublisherSession)
        ] + [v.pc for v in media.viewers.values() if isinstance(v, ViewerSession)]
        links = streamer.workers.links() if streamer.workers is not None else []
        assert len(server_pcs) + sum(link.session_count for link in links) == 2
        async with server.http.delete(
            f"{server.url}/whip/{live_id}", headers=server.auth("alice")
        ) as response:
            assert response.status == 200
        await socket.next_of("live.ended", live_id=live_id, reason="ended_by_host")
        assert {pc.connectionState for pc in server_pcs} == {"closed"}
        left = [link for link in links if link.session_count or link.feeds.all()]
        assert not left, "worker sessions left"
        await wait_for(lambda: not server.app[STREAMER]._tasks, 5, "no task left behind")
        await wait_for(lambda: viewer.pc.connectionState == "closed", 10, "viewer disconnected")
        assert server.app[STREAMER].lives() == []

        with pytest.raises(WhepRefused) as refused:
            await server.whep("carol", live_id, viewer.pc.localDescription.sdp)
        assert (refused.value.status, refused.value.code) == (409, "live_ended")
    finally:
        await socket.close()
        await viewer.close()
        await publisher.close()


async def test_whep_leave_with_delete(server: RunningServer) -> None:
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer(audio=False)
    exchange, locations = whep_exchange(server, "bob", live_id)
    try:
        await viewer.watch(exchange)
        await wait_for(lambda: len(viewer.received.counters) >= 5, 15, "frames")
        async with server.http.delete(
            server.url + locations[0], headers=server.auth("carol")
        ) as response:
            assert response.status == 403
        async with server.http.delete(
            server.url + locations[0], headers=server.auth("bob")
        ) as response:
            assert response.status == 200
        assert server.app[STREAMER].get(live_id).viewers == {}
        async with server.http.delete(
            server.url + locations[0], headers=server.auth("bob")
        ) as response:
            assert response.status == 404
    finally:
        await viewer.close()
        await publisher.close()


async def test_dead_publisher_ends_the_live_after_the_grace_period(server: RunningServer) -> None:
    live_id, publisher = await go_live(server, "alice")
    socket = await server.socket("bob")
    viewer = Viewer(audio=False)
    exchange, _ = whep_exchange(server, "bob", live_id)
    try:
        await viewer.watch(exchange)
        await wait_for(lambda: len(viewer.received.counters) >= 5, 15, "frames")
        await publisher.close()
        await socket.next_of(
            "live.ended", timeout=15, live_id=live_id, reason="host_connection_lost"
        )
        await wait_for(lambda: server.app[STREAMER].lives() == [], 5, "media released")
    finally:
        await socket.close()
        await viewer.close()


async def test_viewer_offer_without_the_live_codec_is_refused(server: RunningServer) -> None:
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer(audio=False)
    try:
        # An offer that can only receive H.264, while the live sends VP8.
        capabilities = RTCRtpReceiver.getCapabilities("video")
        assert capabilities is not None
        h264 = [c for c in capabilities.codecs if c.mimeType == "video/H264"]
        viewer.pc.getTransceivers()[0].setCodecPreferences(h264)
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        offer = viewer.pc.localDescription.sdp
        assert "VP8" not in offer
        with pytest.raises(WhepRefused) as refused:
            await server.whep("bob", live_id, offer)
        assert (refused.value.status, refused.value.code) == (406, "codec_unsupported")
        assert server.app[STREAMER].get(live_id).viewers == {}
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_host_is_live_once_and_a_dropped_live_is_replaced(tmp_path: Path) -> None:
    config = replace(server_config(tmp_path), media=MediaConfig(publisher_grace_seconds=30))
    async with running_server(config) as server:
        alice = await server.socket("alice")
        live_id, publisher = await go_live(server, "alice")
        second = client_pc()
        try:
            second.addTransceiver(CounterVideoTrack(), direction="sendonly")
            await second.setLocalDescription(await second.createOffer())
            headers = {**server.auth("alice"), "Content-Type": "application/sdp"}
            async with server.http.post(
                f"{server.url}/whip", data=second.localDescription.sdp, headers=headers
            ) as r:
                assert (r.status, (await r.json())["error"]["code"]) == (409, "already_live")

            await publisher.close()  # the connection drops: the live waits out its grace
            streamer = server.app[STREAMER]
            await wait_for(lambda: streamer.in_grace(live_id), 10, "the grace period")
            new_live_id, publisher = await go_live(server, "alice")
            assert new_live_id != live_id
            await alice.next_of("live.ended", live_id=live_id, reason="replaced_by_new_live")
            assert [live.live_id for live in streamer.lives()] == [new_live_id]
        finally:
            await second.close()
            await publisher.close()
            await alice.close()


async def test_one_user_holds_a_bounded_number_of_viewer_sessions(tmp_path: Path) -> None:
    async with running_server(
        replace(server_config(tmp_path), max_sessions_per_viewer=2)
    ) as server:
        live_id, publisher = await go_live(server, "alice")
        viewers = [Viewer(audio=False) for _ in range(3)]
        try:
            for viewer in viewers[:2]:
                exchange, _ = whep_exchange(server, "bob", live_id)
                await viewer.watch(exchange)
            exchange, _ = whep_exchange(server, "bob", live_id)
            with pytest.raises(WhepRefused) as refused:
                await viewers[2].watch(exchange)
            assert (refused.value.status, refused.value.code) == (409, "too_many_sessions")
            exchange, _ = whep_exchange(server, "carol", live_id)
            await viewers[2].watch(exchange)  # the cap is per user
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()

"""Layers through the real server: WHIP in, WHEP and socket preferences, media workers, /metrics."""

from __future__ import annotations

import json

import pytest

from benchmarks.layered_media import LayerLoop, encode_layers, layer_tracks
from signaling.appkeys import STREAMER
from tests.media.layered import DecodingViewer, publish_layers
from tests.media.peers import Exchange, wait_for
from tests.server import RunningServer


@pytest.fixture(scope="module")
def loops() -> list[LayerLoop]:
    return encode_layers(seconds=2.0)


def whep(
    server: RunningServer, user: str, live_id: str, locations: list[str], query: str = ""
) -> Exchange:
    async def exchange(sdp: str) -> str:
        headers = {**server.auth(user), "Content-Type": "application/sdp"}
        url = f"{server.url}/whep/{live_id}{query}"
        async with server.http.post(url, data=sdp, headers=headers) as response:
            body = await response.text()
            assert response.status == 201, body
            locations.append(response.headers["Location"])
            return body

    return exchange


async def metric(server: RunningServer, line_start: str) -> float:
    async with server.http.get(f"{server.url}/metrics", headers=server.auth("alice")) as response:
        text = await response.text()
    line = next(line for line in text.splitlines() if line.startswith(line_start))
    return float(line.rsplit(" ", 1)[1])


async def test_viewers_choose_layers_over_whep_and_the_socket(
    server: RunningServer, loops: list[LayerLoop]
) -> None:
    live_ids: list[str] = []

    async def go_live(sdp: str) -> str:
        live_id, answer = await server.whip("alice", sdp)
        live_ids.append(live_id)
        return answer

    publisher = await publish_layers(layer_tracks(loops), go_live)
    low, top = DecodingViewer(), DecodingViewer()
    socket = await server.socket("bob")
    try:
        live_id = live_ids[0]
        media = server.app[STREAMER].get(live_id)
        layers = media.publishers["alice"].layer_sets[0]
        await wait_for(lambda: all(s.has_keyframe for s in layers.sources), 10, "keyframes")
        assert server.app[STREAMER].participant_sources(live_id, "alice") == [layers.top()]

        headers = {**server.auth("bob"), "Content-Type": "application/sdp"}
        async with server.http.post(
            f"{server.url}/whep/{live_id}?max_layer=x", data="v=0", headers=headers
        ) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "bad_max_layer"

        locations: list[str] = []
        await low.watch(whep(server, "bob", live_id, locations, "?max_layer=0"))
        await top.watch(whep(server, "carol", live_id, locations))
        await wait_for(lambda: len(low.frames) >= 20 and len(top.frames) >= 20, 15, "frames")
        assert low.size == (160, 120)
        assert top.size == (640, 480)
        assert await metric(server, 'directlive_layer_viewers{layer="0"}') == 1
        assert await metric(server, 'directlive_layer_viewers{layer="2"}') == 1

        low_session, top_session = (location.rsplit("/", 1)[1] for location in locations)
        refused = await socket.request(
            {"type": "layer", "live_id": live_id, "session_id": low_session, "max_layer": 10}
        )
        assert refused["code"] == "bad_max_layer"
        refused = await socket.request(
            {"type": "layer", "live_id": live_id, "session_id": top_session, "max_layer": 0}
        )
        assert refused["code"] == "not_your_session"  # carol's
        carol = await server.socket("carol")
        try:
            answer = await carol.request(
                {"type": "layer", "live_id": live_id, "session_id": top_session, "max_layer": 1}
            )
            assert answer["type"] == "layer.ok", json.dumps(answer)
        finally:
            await carol.close()
        await wait_for(lambda: top.size == (320, 240), 10, "the capped viewer moved down")
        count = len(top.frames)
        await wait_for(lambda: len(top.frames) >= count + 15, 10, "frames after the switch")
        assert top.decoder_errors == low.decoder_errors == []
        assert all(f.counter is not None for f in [*top.frames, *low.frames])
        assert await metric(server, "directlive_layer_switches_down_total") >= 1
        assert await metric(server, 'directlive_layer_viewers{layer="1"}') == 1
    finally:
        await socket.close()
        await low.close()
        await top.close()
        await publisher.close()

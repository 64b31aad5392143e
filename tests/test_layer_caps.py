"""A viewer session's layer caps: one for the session, one per participant, the lower wins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiortc import RTCSessionDescription

from benchmarks.layered_media import LayerLoop, encode_layers, layer_tracks
from streamer import MediaConfig, Streamer
from streamer.viewer import ViewerSession
from tests.media.layered import publish_layers
from tests.media.peers import Exchange, client_pc, wait_for


@pytest.fixture(scope="module")
def loops() -> list[LayerLoop]:
    return encode_layers(seconds=2.0)


@pytest.fixture
async def streamer() -> AsyncIterator[Streamer]:
    s = Streamer(MediaConfig(publisher_grace_seconds=0.5, ice_addresses=("127.0.0.1",)))
    yield s
    await s.close()


def publishing(streamer: Streamer, live_id: str, user: str) -> Exchange:
    async def exchange(sdp: str) -> str:
        return await streamer.publish(live_id, user, sdp)

    return exchange


def caps(session: ViewerSession) -> dict[str, tuple[int, int]]:
    """(cap, rank it is moving to) of each participant's picture."""
    return {c.participant: (c.selector.cap, c.selector.target) for c in session.layered.values()}


async def test_participant_and_session_caps_combine(
    streamer: Streamer, loops: list[LayerLoop]
) -> None:
    live_id = streamer.new_live_id()
    publishers = []
    viewer = client_pc()
    try:
        for user in ("alice", "bob"):
            publishers.append(
                await publish_layers(layer_tracks(loops), publishing(streamer, live_id, user))
            )
        live = streamer.get(live_id)
        await wait_for(
            lambda: all(len(p.layer_sets) == 1 for p in live.publishers.values()), 10, "layers"
        )
        for _ in range(2):
            viewer.addTransceiver("video", direction="recvonly")
        await viewer.setLocalDescription(await viewer.createOffer())
        assert viewer.localDescription is not None
        session_id, answer = await streamer.watch(live_id, "carol", viewer.localDescription.sdp)
        await viewer.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        session = streamer.local_session(live_id, session_id)
        assert caps(session) == {"alice": (2, 2), "bob": (2, 2)}

        await session.set_max_layer(0, "bob")
        assert caps(session) == {"alice": (2, 2), "bob": (0, 0)}
        await session.set_max_layer(1)
        assert caps(session) == {"alice": (1, 1), "bob": (0, 0)}
        await session.set_max_layer(None, "bob")
        assert caps(session)["bob"][0] == 1  # back up only by probing: the target stays
        await session.set_max_layer(None)
        assert {p: cap for p, (cap, _) in caps(session).items()} == {"alice": 2, "bob": 2}
        assert session.cap_of("alice") is None
        await session.set_max_layer(2, "alice")
        await session.set_max_layer(1)
        assert (session.cap_of("alice"), session.cap_of("bob")) == (1, 1)
    finally:
        await viewer.close()
        for pc in publishers:
            await pc.close()

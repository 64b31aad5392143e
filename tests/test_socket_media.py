"""Going live and watching over the signaling socket, with trickled ICE candidates."""

from __future__ import annotations

from aiortc import RTCSessionDescription

from tests.media.peers import Viewer, client_pc, wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack
from tests.server import RunningServer


def split_candidates(sdp: str) -> tuple[str, list[str]]:
    """The SDP without its candidates, and the candidates, as a trickling client sends them."""
    lines = sdp.split("\r\n")
    candidates = [ln.removeprefix("a=") for ln in lines if ln.startswith("a=candidate:")]
    kept = [ln for ln in lines if not ln.startswith(("a=candidate:", "a=end-of-candidates"))]
    return "\r\n".join(kept), candidates


async def test_go_live_watch_and_end_over_the_socket(server: RunningServer) -> None:
    alice = await server.socket("alice")
    bob = await server.socket("bob")
    publisher = client_pc()
    publisher.addTransceiver(CounterVideoTrack(), direction="sendonly")
    publisher.addTransceiver(ToneAudioTrack(), direction="sendonly")
    viewer = Viewer()
    try:
        await publisher.setLocalDescription(await publisher.createOffer())
        assert publisher.localDescription is not None
        offer, candidates = split_candidates(publisher.localDescription.sdp)
        assert candidates, "the client gathered no candidate to trickle"
        started = await alice.request({"type": "live.start", "sdp": offer})
        assert started["type"] == "live.started", started
        live_id = str(started["live_id"])
        for candidate in candidates:
            reply = await alice.request(
                {"type": "ice", "live_id": live_id, "candidate": candidate, "sdp_mid": "0"}
            )
            assert reply["type"] == "ice.ok", reply
        answer = RTCSessionDescription(sdp=str(started["sdp"]), type="answer")
        await publisher.setRemoteDescription(answer)

        async def watch_over_socket(sdp: str) -> str:
            reply = await bob.request({"type": "watch", "live_id": live_id, "sdp": sdp})
            assert reply["type"] == "watch.answer", reply
            return str(reply["sdp"])

        await wait_for(lambda: publisher.connectionState == "connected", 10, "publisher up")
        await viewer.watch(watch_over_socket)
        await wait_for(lambda: len(viewer.received.counters) >= 30, 15, "30 decoded frames")
        await alice.next_of("live.viewers", live_id=live_id, count=1)

        refused = await bob.request({"type": "live.end", "live_id": live_id})
        assert (refused["type"], refused["code"]) == ("error", "not_host")
        ended = await alice.request({"type": "live.end", "live_id": live_id})
        assert ended["type"] == "live.end.ok"
        await bob.next_of("live.ended", live_id=live_id)
        await wait_for(lambda: viewer.pc.connectionState == "closed", 10, "viewer disconnected")
    finally:
        await alice.close()
        await bob.close()
        await viewer.close()
        await publisher.close()

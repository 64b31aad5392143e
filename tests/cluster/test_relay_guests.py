"""A guest connected to another node than the live's origin publishes through it: the node
forwards the offer to the origin, whose answer sends the guest's media straight there."""

from __future__ import annotations

from contextlib import AsyncExitStack

from tests.cluster.nodes import Cluster
from tests.cluster.relay_support import go_live_on
from tests.media.peers import Viewer, publish, wait_for
from tests.media.tracks import CounterVideoTrack


async def test_guest_on_an_edge_publishes_to_the_origin_and_edges_see_both(
    cluster: Cluster,
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    async with AsyncExitStack() as stack:
        live_id, publisher = await go_live_on(a, "alice")
        stack.push_async_callback(publisher.close)
        alice = await a.socket("alice")
        stack.push_async_callback(alice.close)
        carol = await c.socket("carol")
        stack.push_async_callback(carol.close)
        early = Viewer(audio=False)
        stack.push_async_callback(early.close)

        async def carol_watches(sdp: str) -> str:
            reply = await carol.request({"type": "watch", "live_id": live_id, "sdp": sdp})
            assert reply["type"] == "watch.answer", reply
            return str(reply["sdp"])

        await early.watch(carol_watches)  # a socket viewer on edge c, before the guest
        await wait_for(lambda: early.frames_from("alice") >= 5, 20, "carol sees alice on c")

        dave = await c.socket("dave")
        stack.push_async_callback(dave.close)
        asked = await dave.request({"type": "join.request", "live_id": live_id})
        assert asked["type"] == "join.request.ok", asked
        accepted = await alice.request({"type": "join.accept", "live_id": live_id, "user": "dave"})
        assert accepted["type"] == "join.accept.ok", accepted

        async def dave_publishes(sdp: str) -> str:
            reply = await dave.request({"type": "live.publish", "live_id": live_id, "sdp": sdp})
            assert reply["type"] == "live.published", reply
            return str(reply["sdp"])

        guest = await publish([CounterVideoTrack()], dave_publishes)  # on c, forwarded to a
        stack.push_async_callback(guest.close)
        # A trickled candidate of dave's publish goes the same way (here: one more of the
        # loopback candidates the offer already had, which the origin accepts).
        description = guest.localDescription
        assert description is not None
        line = next(x for x in description.sdp.splitlines() if x.startswith("a=candidate:"))
        trickled = await dave.request(
            {"type": "ice", "live_id": live_id, "candidate": line[2:], "sdp_mid": "0"}
        )
        assert trickled["type"] == "ice.ok", trickled
        wrong = await dave.request(
            {"type": "ice", "live_id": live_id, "candidate": "candidate:garbage", "sdp_mid": "0"}
        )
        assert (wrong["type"], wrong["code"]) == ("error", "bad_candidate"), wrong  # a's own

        offer = await carol.next_of("session.offer", live_id=live_id, timeout=20)
        answer = await early.answer_offer(str(offer["sdp"]))
        applied = await carol.request(
            {"type": "session.answer", "live_id": live_id, "session_id": offer["session_id"]}
            | {"sdp": answer}
        )
        assert applied["type"] == "session.answer.ok", applied
        await wait_for(lambda: early.frames_from("dave") >= 5, 20, "carol on c sees dave")

        status, room = await b.api("bob", "GET", f"/api/lives/{live_id}/room")
        assert status == 200, room
        assert room["publishing"] == ["alice", "dave"], "b holds no media: the origin's record"

        both = Viewer(audio=False, video_lines=2)
        stack.push_async_callback(both.close)

        async def bob_watches(sdp: str) -> str:
            _, answer = await b.whep("bob", live_id, sdp)
            return answer

        await both.watch(bob_watches)  # edge b: both participants through one link
        await wait_for(
            lambda: both.frames_from("alice") >= 5 and both.frames_from("dave") >= 5,
            20,
            "bob on b sees alice and dave",
        )

        left = await dave.request({"type": "guest.leave", "live_id": live_id})
        assert left["type"] == "guest.leave.ok", left
        alice_at = both.frames_from("alice")
        await wait_for(lambda: both.frames_from("alice") >= alice_at + 30, 15, "alice goes on")
        dave_at, alice_at = both.frames_from("dave"), both.frames_from("alice")
        await wait_for(lambda: both.frames_from("alice") >= alice_at + 30, 15, "alice goes on")
        assert both.frames_from("dave") == dave_at  # dave's tracks stopped on the edge too

"""Live with a friend: a guest joins beside the host and every viewer sees both."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from tests.media.peers import Viewer, publish, wait_for
from tests.media.tracks import CounterVideoTrack
from tests.server import RunningServer, SocketClient, go_live


async def sign_in(server: RunningServer, *users: str) -> None:
    for user in users:
        async with server.http.get(f"{server.url}/api/me", headers=server.auth(user)) as r:
            assert r.status == 200


async def guest_publishes(socket: SocketClient, live_id: str) -> RTCPeerConnection:
    async def exchange(sdp: str) -> str:
        reply = await socket.request({"type": "live.publish", "live_id": live_id, "sdp": sdp})
        assert reply["type"] == "live.published", reply
        return str(reply["sdp"])

    return await publish([CounterVideoTrack()], exchange)


async def test_guest_joins_viewers_see_both_guest_removed_host_ends(
    server: RunningServer,
) -> None:
    await sign_in(server, "alice", "bob", "carol", "dave")
    live_id, host_pc = await go_live(server, "alice")
    alice, bob, carol = [await server.socket(u) for u in ("alice", "bob", "carol")]
    early = Viewer(audio=False)
    late = Viewer(audio=False, video_lines=2)
    guest_pc: RTCPeerConnection | None = None
    try:

        async def carol_watches(sdp: str) -> str:
            reply = await carol.request({"type": "watch", "live_id": live_id, "sdp": sdp})
            return str(reply["sdp"])

        await early.watch(carol_watches)
        await wait_for(lambda: early.frames_from("alice") >= 10, 15, "carol sees alice")

        asked = await bob.request({"type": "join.request", "live_id": live_id})
        assert asked == {**asked, "type": "join.request.ok", "status": "requested"}
        await alice.next_of("join.requested", live_id=live_id, user="bob")
        accepted = await alice.request({"type": "join.accept", "live_id": live_id, "user": "bob"})
        assert accepted["type"] == "join.accept.ok", accepted
        await bob.next_of("join.accepted", live_id=live_id)
        guest_pc = await guest_publishes(bob, live_id)

        await carol.next_of("live.participant.added", live_id=live_id, user="bob")
        offer = await carol.next_of("session.offer", live_id=live_id)
        answer = await early.answer_offer(str(offer["sdp"]))
        session = {"live_id": live_id, "session_id": offer["session_id"]}
        garbled = await carol.request({"type": "session.answer", **session, "sdp": "v=0\r\nx"})
        assert (garbled["type"], garbled["code"]) == ("error", "bad_sdp"), garbled
        applied = await carol.request(
            {"type": "session.answer", "live_id": live_id, "session_id": offer["session_id"]}
            | {"sdp": answer}
        )
        assert applied["type"] == "session.answer.ok", applied
        await wait_for(lambda: early.frames_from("bob") >= 10, 15, "carol sees bob too")

        async def dave_watches(sdp: str) -> str:
            _, answer = await server.whep("dave", live_id, sdp)
            return answer

        await late.watch(dave_watches)
        await wait_for(
            lambda: late.frames_from("alice") >= 10 and late.frames_from("bob") >= 10,
            15,
            "a viewer joining after the guest sees both",
        )

        removed = await alice.request({"type": "guest.remove", "live_id": live_id, "user": "bob"})
        assert removed["type"] == "guest.remove.ok", removed
        await carol.next_of("live.participant.removed", live_id=live_id, user="bob")
        await bob.next_of("live.participant.removed", live_id=live_id, user="bob", by="alice")
        guest = guest_pc
        await wait_for(lambda: guest.connectionState == "closed", 10, "guest cut off")
        bob_frames, alice_frames = early.frames_from("bob"), early.frames_from("alice")
        await wait_for(lambda: early.frames_from("alice") > alice_frames + 15, 10, "alice goes on")
        assert early.frames_from("bob") <= bob_frames + 3, "frames from a removed guest"
        assert early.pc.connectionState == "connected"

        # The guest comes back: the earlier viewer is offered the new tracks too.
        await bob.request({"type": "join.request", "live_id": live_id})
        await alice.request({"type": "join.accept", "live_id": live_id, "user": "bob"})
        await guest.close()
        guest_pc = guest = await guest_publishes(bob, live_id)
        offers = [m for m in carol.messages if m.get("type") == "session.offer"]
        await wait_for(
            lambda: (
                len([m for m in carol.messages if m.get("type") == "session.offer"]) > len(offers)
            ),
            15,
            "a second offer for the returning guest",
        )
        second = [m for m in carol.messages if m.get("type") == "session.offer"][-1]
        answer = await early.answer_offer(str(second["sdp"]))
        applied = await carol.request(
            {"type": "session.answer", "live_id": live_id, "session_id": second["session_id"]}
            | {"sdp": answer}
        )
        assert applied["type"] == "session.answer.ok", applied
        returned_at = early.frames_from("bob")
        await wait_for(lambda: early.frames_from("bob") > returned_at + 10, 15, "bob again")

        async with server.http.delete(
            f"{server.url}/whip/{live_id}", headers=server.auth("alice")
        ) as r:
            assert r.status == 200
        await carol.next_of("live.ended", live_id=live_id, reason="ended_by_host")
        await wait_for(
            lambda: early.pc.connectionState == "closed" and late.pc.connectionState == "closed",
            10,
            "every viewer disconnected",
        )
    finally:
        for socket in (alice, bob, carol):
            await socket.close()
        for viewer in (early, late):
            await viewer.close()
        if guest_pc is not None:
            await guest_pc.close()
        await host_pc.close()


async def test_a_guest_publishes_over_whip_and_leaves_with_delete(server: RunningServer) -> None:
    await sign_in(server, "alice", "bob")
    live_id, host_pc = await go_live(server, "alice")
    alice, bob = await server.socket("alice"), await server.socket("bob")
    guest_pc: RTCPeerConnection | None = None
    try:
        await alice.request({"type": "join.invite", "live_id": live_id, "user": "bob"})
        invited = await bob.next_of("join.invited", live_id=live_id)
        assert invited["from"] == "alice"
        joined = await bob.request({"type": "join.request", "live_id": live_id})
        assert joined["status"] == "accepted", "an invited viewer is accepted at once"

        headers = {**server.auth("bob"), "Content-Type": "application/sdp"}

        async def whip_as_guest(sdp: str) -> str:
            async with server.http.post(
                f"{server.url}/whip/{live_id}", data=sdp, headers=headers
            ) as r:
                assert r.status == 201, await r.text()
                assert r.headers["Location"] == f"/whip/{live_id}/bob"
                return await r.text()

        guest_pc = await publish([CounterVideoTrack()], whip_as_guest)
        await alice.next_of("live.participant.added", live_id=live_id, user="bob")
        async with server.http.delete(
            f"{server.url}/whip/{live_id}/bob", headers=server.auth("bob")
        ) as r:
            assert r.status == 200
        await alice.next_of("live.participant.removed", live_id=live_id, user="bob")
    finally:
        await alice.close()
        await bob.close()
        if guest_pc is not None:
            await guest_pc.close()
        await host_pc.close()


async def test_the_host_removes_a_guest_from_the_live_for_good(server: RunningServer) -> None:
    await sign_in(server, "alice", "bob")
    live_id, host_pc = await go_live(server, "alice")
    alice, bob = await server.socket("alice"), await server.socket("bob")
    guest_pc: RTCPeerConnection | None = None
    try:
        await alice.request({"type": "join.invite", "live_id": live_id, "user": "bob"})
        await bob.request({"type": "join.request", "live_id": live_id})
        guest_pc = guest = await guest_publishes(bob, live_id)
        await alice.next_of("live.participant.added", live_id=live_id, user="bob")
        removed = await alice.request({"type": "viewer.remove", "live_id": live_id, "user": "bob"})
        assert removed["type"] == "viewer.remove.ok", removed
        await alice.next_of("live.participant.removed", live_id=live_id, user="bob")
        evicted = await bob.next_of("live.evicted", live_id=live_id)
        assert evicted["code"] == "removed_by_host"
        await wait_for(lambda: guest.connectionState == "closed", 10, "the guest's media cut")
        again = await bob.request({"type": "join.request", "live_id": live_id})
        assert again["code"] == "removed_by_host"
    finally:
        await alice.close()
        await bob.close()
        if guest_pc is not None:
            await guest_pc.close()
        await host_pc.close()

"""A socket viewer whose socket reconnects takes its viewer session over with ``room.join``'s
``session_id``: the room's events and the renegotiation for a new guest reach the new socket."""

from __future__ import annotations

from contextlib import AsyncExitStack

from tests.media.peers import Viewer, wait_for
from tests.server import RunningServer, go_live
from tests.test_cobroadcast import guest_publishes, sign_in


async def test_a_new_socket_takes_over_the_viewer_session_it_names(
    server: RunningServer,
) -> None:
    await sign_in(server, "alice", "bob", "carol", "dave")
    async with AsyncExitStack() as stack:
        live_id, host_pc = await go_live(server, "alice")
        stack.push_async_callback(host_pc.close)
        alice, bob, first = [await server.socket(u) for u in ("alice", "bob", "carol")]
        for socket in (alice, bob):
            stack.push_async_callback(socket.close)
        viewer = Viewer()  # audio too: nothing is missing until the guest comes
        stack.push_async_callback(viewer.close)

        async def carol_watches(sdp: str) -> str:
            reply = await first.request({"type": "watch", "live_id": live_id, "sdp": sdp})
            assert reply["type"] == "watch.answer", reply
            session.append(str(reply["session_id"]))
            return str(reply["sdp"])

        session: list[str] = []
        await viewer.watch(carol_watches)
        await wait_for(lambda: viewer.frames_from("alice") >= 5, 15, "carol sees alice")
        await first.close()  # the network drops carol's socket; her media goes on
        second = await server.socket("carol")
        stack.push_async_callback(second.close)
        join: dict[str, object] = {"type": "room.join", "live_id": live_id}

        for wrong, code in (
            ({"session_id": 7}, "bad_message"),
            ({"session_id": "nope"}, "session_not_found"),
        ):
            refused = await second.request(join | wrong)
            assert (refused["type"], refused["code"]) == ("error", code), refused
        dave = await server.socket("dave")
        stack.push_async_callback(dave.close)
        taken = await dave.request(join | {"session_id": session[0]})
        assert (taken["type"], taken["code"]) == ("error", "not_your_session"), taken

        joined = await second.request(join | {"session_id": session[0]})
        assert joined == {**joined, "type": "room.joined", "session_id": session[0]}, joined
        said = await alice.request({"type": "comment", "live_id": live_id, "text": "welcome back"})
        assert said["type"] == "comment.ok", said
        await second.next_of("comment.new", live_id=live_id, text="welcome back")

        await bob.request({"type": "join.request", "live_id": live_id})
        await alice.request({"type": "join.accept", "live_id": live_id, "user": "bob"})
        guest = await guest_publishes(bob, live_id)
        stack.push_async_callback(guest.close)
        await second.next_of("live.participant.added", live_id=live_id, user="bob")
        offer = await second.next_of("session.offer", live_id=live_id, timeout=20)
        assert offer["session_id"] == session[0]
        answer = await viewer.answer_offer(str(offer["sdp"]))
        applied = await second.request(
            {"type": "session.answer", "live_id": live_id, "session_id": session[0]}
            | {"sdp": answer}
        )
        assert applied["type"] == "session.answer.ok", applied
        await wait_for(lambda: viewer.frames_from("bob") >= 5, 15, "carol sees the new guest")

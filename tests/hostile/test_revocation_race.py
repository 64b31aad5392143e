"""Issue 17 item 4: a removal racing another revocation answers what happened."""

from __future__ import annotations

import asyncio

from signaling.appkeys import STREAMER
from tests.media.peers import Viewer, wait_for
from tests.server import RunningServer, SocketClient, go_live
from tests.test_whip_whep import whep_exchange


async def follow_approved(server: RunningServer, follower: str, host: str) -> None:
    assert (await server.api(follower, "POST", f"/api/users/{host}/follow"))[0] == 200
    status, _ = await server.api(host, "POST", f"/api/follow-requests/{follower}/approve")
    assert status == 200


async def watch_on_socket(socket: SocketClient, viewer: Viewer, live_id: str) -> None:
    async def exchange(sdp: str) -> str:
        reply = await socket.request({"type": "watch", "live_id": live_id, "sdp": sdp})
        assert reply["type"] == "watch.answer", reply
        answer = reply["sdp"]
        assert isinstance(answer, str)
        return answer

    await viewer.watch(exchange)


async def test_item4_removing_a_follower_while_another_unfollows_answers_200(
    any_server: RunningServer,
) -> None:
    server = any_server
    for user in ("alice", "bob", "carol"):
        assert (await server.api(user, "GET", "/api/me"))[0] == 200
    assert (await server.api("alice", "PATCH", "/api/me/settings", {"private": True}))[0] == 200
    live_id, publisher = await go_live(server, "alice")
    streamer = server.app[STREAMER]
    bob = await server.socket("bob")
    viewers: list[Viewer] = []
    try:
        for round_ in range(3):
            await follow_approved(server, "bob", "alice")
            await follow_approved(server, "carol", "alice")
            whep_viewer, socket_viewer = Viewer(audio=False), Viewer(audio=False)
            viewers += [whep_viewer, socket_viewer]
            exchange, _ = whep_exchange(server, "bob", live_id)
            await whep_viewer.watch(exchange)
            await watch_on_socket(bob, socket_viewer, live_id)
            assert streamer.get(live_id).viewer_users() == ["bob"]

            removal, unfollow = await asyncio.gather(
                server.api("alice", "DELETE", "/api/followers/bob"),
                server.api("carol", "DELETE", "/api/users/alice/follow"),
            )
            assert removal == (200, {"ok": True}), (round_, removal)
            assert unfollow == (200, {"ok": True}), (round_, unfollow)
            assert streamer.get(live_id).viewer_users() == []
            status, err = await server.api("alice", "DELETE", "/api/followers/bob")
            assert (status, err["error"]["code"]) == (404, "follower_not_found")
            await bob.next_of("live.evicted", live_id=live_id, code="private_account")
            bob.messages.clear()
        await wait_for(lambda: not streamer.get(live_id).viewers, 5, "no session left")
    finally:
        await bob.close()
        for viewer in viewers:
            await viewer.close()
        await publisher.close()

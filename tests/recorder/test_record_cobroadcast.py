"""A recorded co-broadcast keeps each participant in a file of their own."""

from __future__ import annotations

from signaling.appkeys import RECORDINGS
from tests.media.peers import wait_for
from tests.media.tracks import CounterVideoTrack
from tests.recorder.helpers import api, go_live_recorded, read_back
from tests.server import RunningServer
from tests.test_cobroadcast import guest_publishes, sign_in


async def test_guest_tracks_are_recorded_beside_the_host(server: RunningServer) -> None:
    await sign_in(server, "alice", "bob")
    live_id, host_pc = await go_live_recorded(server, "alice", [CounterVideoTrack()])
    alice, bob = await server.socket("alice"), await server.socket("bob")
    guest_pc = None
    try:
        await alice.request({"type": "join.invite", "live_id": live_id, "user": "bob"})
        joined = await bob.request({"type": "join.request", "live_id": live_id})
        assert joined["status"] == "accepted"
        guest_pc = await guest_publishes(bob, live_id)
        await alice.next_of("live.participant.added", live_id=live_id, user="bob")
        recorder = server.app[RECORDINGS].recorder
        written = recorder.frames_written(live_id)[0]
        await wait_for(
            lambda: recorder.frames_written(live_id)[0] >= written + 90, 15, "both recording"
        )
        async with server.http.delete(
            f"{server.url}/whip/{live_id}", headers=server.auth("alice")
        ) as r:
            assert r.status == 200
        await alice.next_of("recording.ready", live_id=live_id, timeout=15)
        status, recording = await api(server, "alice", "GET", f"/api/recordings/{live_id}")
        assert status == 200, recording
        files = {f["participant"]: f for f in recording["files"]}
        assert set(files) == {"alice", "bob"}
        for file in files.values():
            facts = read_back(recorder.path_of(live_id, file["name"]), decode=False)
            assert facts.codecs == ("vp8",)
            assert facts.video_packets > 0
    finally:
        await alice.close()
        await bob.close()
        if guest_pc is not None:
            await guest_pc.close()
        await host_pc.close()

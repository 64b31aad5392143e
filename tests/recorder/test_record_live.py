"""Lives recorded without transcoding, from aiortc (VP8 + Opus) and FFmpeg's WHIP muxer (H.264 +
Opus), then replayed with range requests under the live's privacy rules."""

from __future__ import annotations

from pathlib import Path

from signaling.appkeys import RECORDINGS
from tests.clients.ffmpeg_whip import publish_subprocess
from tests.media.peers import wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack
from tests.recorder.helpers import FileFacts, api, go_live_recorded, read_back
from tests.server import RunningServer, SocketClient

ROOT = Path(__file__).resolve().parents[2]
FPS = 30


def assert_faithful(facts: FileFacts, codecs: tuple[str, str], frames_sent: int) -> None:
    """Codec unchanged, duration within 5 %, frames within 2 %, A/V start within 100 ms."""
    assert sorted(facts.codecs) == sorted(codecs)
    assert abs(facts.video_packets - frames_sent) <= 0.02 * frames_sent, facts
    assert facts.audio_packets > 0
    length = frames_sent / FPS
    assert facts.duration is not None
    assert abs(facts.duration - length) <= 0.05 * length, (facts.duration, length)
    assert abs(facts.first["video"] - facts.first["audio"]) <= 0.1, facts.first
    assert facts.decoded_frames >= facts.video_packets - 1


async def get_bytes(
    server: RunningServer, user: str, url: str, range_: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    headers = server.auth(user)
    if range_ is not None:
        headers["Range"] = range_
    async with server.http.get(server.url + url, headers=headers) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_aiortc_live_is_recorded_and_replayed_with_ranges_under_privacy(
    server: RunningServer,
) -> None:
    alice = await server.socket("alice")
    try:
        await _record_replay_and_refuse(server, alice)
    finally:
        await alice.close()  # an open socket holds the server's shutdown for its timeout


async def _record_replay_and_refuse(server: RunningServer, alice: SocketClient) -> None:
    for user in ("bob", "carol"):
        await api(server, user, "GET", "/api/me")
    video, audio = CounterVideoTrack(), ToneAudioTrack()
    live_id, publisher = await go_live_recorded(server, "alice", [video, audio])
    await alice.next_of("recording.started", live_id=live_id)
    recorder = server.app[RECORDINGS].recorder
    await wait_for(lambda: recorder.frames_written(live_id)[0] >= 150, 20, "5 s recorded")
    await publisher.close()  # the live ends after the publisher grace period
    sent = video.sent
    ready = await alice.next_of("recording.ready", live_id=live_id, timeout=15)
    assert ready["state"] == "finished"

    status, archive = await api(server, "alice", "GET", "/api/recordings")
    assert status == 200
    [recording] = archive["recordings"]
    assert recording["live_id"] == live_id
    assert recording["state"] == "finished"
    [file] = recording["files"]
    assert file["participant"] == "alice"
    assert file["mime_type"] == "video/webm"
    path = recorder.path_of(live_id, file["name"])
    assert_faithful(read_back(path), ("vp8", "opus"), sent)

    data = path.read_bytes()
    status, body, headers = await get_bytes(server, "alice", file["url"], "bytes=100-299")
    assert (status, body) == (206, data[100:300])
    assert headers["Content-Range"] == f"bytes 100-299/{len(data)}"
    status, body, _ = await get_bytes(server, "alice", file["url"], "bytes=-50")
    assert (status, body) == (206, data[-50:])
    status, body, headers = await get_bytes(server, "alice", file["url"])
    assert (status, body, headers["Content-Type"]) == (200, data, "video/webm")

    status, refused = await api(server, "carol", "GET", f"/api/recordings/{live_id}")
    assert (status, refused["error"]["code"]) == (403, "not_shared")
    assert (
        await api(server, "alice", "POST", f"/api/recordings/{live_id}/share", {"users": ["bob"]})
    )[0] == 200
    assert (await get_bytes(server, "bob", file["url"], "bytes=0-9"))[0] == 206

    await api(server, "alice", "PATCH", "/api/me/settings", {"private": True})
    status, body, _ = await get_bytes(server, "bob", file["url"])
    assert status == 403
    assert b"private_account" in body

    # Posted in a thread, the recording keeps its rules: members only, followers of a private host.
    status, dm = await api(server, "alice", "POST", "/api/threads", {"members": ["bob"]})
    assert status == 201
    posted = f"/api/threads/{dm['thread_id']}/posts"
    status, post = await api(server, "alice", "POST", posted, {"recording": live_id})
    assert status == 201, post
    media = f"/api/posts/{post['post_id']}/media/{file['name']}"
    status, body, _ = await get_bytes(server, "bob", media)
    assert status == 403
    assert b"private_account" in body
    await api(server, "bob", "POST", "/api/users/alice/follow")
    await api(server, "alice", "POST", "/api/follow-requests/bob/approve")
    status, body, _ = await get_bytes(server, "bob", media, "bytes=0-99")
    assert (status, body) == (206, data[:100])
    status, body, _ = await get_bytes(server, "carol", media)
    assert status == 403
    assert b"not_member" in body
    await api(server, "alice", "POST", "/api/users/bob/block")
    status, body, _ = await get_bytes(server, "bob", file["url"])
    assert status == 403
    assert b"blocked" in body


async def test_ffmpeg_h264_live_is_recorded_without_transcoding(
    server: RunningServer, tmp_path: Path
) -> None:
    host = await server.socket("ffmpeg")
    try:
        result = await publish_subprocess(
            f"{server.url}/whip?record=1",
            server.tokens.mint("ffmpeg"),
            8.0,
            cert_dir=tmp_path / "cert",
            cwd=ROOT,
        )
        assert result.error is None, result.log_tail
        ready = await host.next_of("recording.ready", timeout=15)
    finally:
        await host.close()
    live_id = str(ready["live_id"])
    status, recording = await api(server, "ffmpeg", "GET", f"/api/recordings/{live_id}")
    assert status == 200
    [file] = recording["files"]
    assert file["mime_type"] == "video/x-matroska"
    path = server.app[RECORDINGS].recorder.path_of(live_id, file["name"])
    assert_faithful(read_back(path), ("h264", "opus"), result.frames_sent)

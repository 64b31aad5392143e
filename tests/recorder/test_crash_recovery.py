"""After a crash, a node's start-up turns its stranded recordings into ``interrupted`` ones that
replay, and removes cut-off uploads."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import av
import redis.asyncio as aioredis

from benchmarks.harness import free_port
from fanout import Fanout, MemoryStore
from fanout.post_models import Recording
from fanout.recordings import Recordings
from recorder import RecorderConfig
from recorder.media_file import MediaFile, TrackSpec
from signaling.auth import TokenIssuer
from signaling.live_recordings import LiveRecordings
from streamer.bitstream import vp8_params
from tests.media.peers import publish, wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack
from tests.recorder.helpers import (
    SECRET,
    read_back,
    start_server_process,
    stop_process,
    vp8_keyframe,
    wait_healthy,
)
from tests.redis_server import RedisServer, redis_proc

__all__ = ["redis_proc"]


def write_vp8(path: Path, frames: int) -> None:
    keyframe = vp8_keyframe()
    media = MediaFile(path, [TrackSpec("vp8", 90_000)], cluster_ms=200)
    media.start({0: vp8_params(keyframe)})
    for index in range(frames):
        media.write(0, keyframe, index * 3000, True)
    media.close()


async def test_recover_lists_what_the_crash_left_and_touches_nothing_else(tmp_path: Path) -> None:
    store = MemoryStore()
    fanout = Fanout(store, node_id="node-1")
    recordings = Recordings(store, "node-1")
    live = LiveRecordings(RecorderConfig(tmp_path, min_free_bytes=0), recordings, fanout.hub)
    for live_id in ("cut", "failed", "empty", "running"):
        await recordings.begin(live_id, "alice")
    await recordings.stopped("failed", "disk_full")
    await store.put_recording(Recording("elsewhere", "alice", 99, "node-2", started_at=1.0))
    (tmp_path / "cut").mkdir()
    write_vp8(tmp_path / "cut" / "alice-1.webm", 90)
    whole = (tmp_path / "cut" / "alice-1.webm").read_bytes()
    (tmp_path / "cut" / "bob.x-1.webm").write_bytes(whole[: len(whole) // 2])  # a torn cluster
    (tmp_path / "cut" / "junk-1.webm").write_bytes(b"not a recording" * 100)
    (tmp_path / "cut" / "notes.txt").write_text("ignored")
    (tmp_path / "failed").mkdir()
    write_vp8(tmp_path / "failed" / "alice-1.webm", 30)
    live.recorder.start("running")
    try:
        recovered = await live.recover()

        assert sorted(r.live_id for r in recovered) == ["cut", "empty", "failed"]
        cut = await recordings.get("cut")
        assert cut.state == "interrupted"
        assert cut.ended_at == (tmp_path / "cut" / "bob.x-1.webm").stat().st_mtime
        files = {f.name: f for f in cut.files}
        assert sorted(files) == ["alice-1.webm", "bob.x-1.webm"]
        for name, file in files.items():
            assert file.size == (tmp_path / "cut" / name).stat().st_size
            assert (file.mime_type, file.codecs) == ("video/webm", ("vp8",))
        assert files["alice-1.webm"].participant == "alice"
        assert files["bob.x-1.webm"].participant == "bob.x"
        assert files["alice-1.webm"].duration == round(89 / 30, 3)
        assert 0 < files["bob.x-1.webm"].duration < files["alice-1.webm"].duration
        failed = await recordings.get("failed")
        assert (failed.state, failed.failure, len(failed.files)) == ("failed", "disk_full", 1)
        empty = await recordings.get("empty")
        assert (empty.state, empty.files) == ("interrupted", ())
        assert empty.ended_at > 0
        assert (await recordings.get("running")).state == "recording"
        assert (await recordings.get("elsewhere")).state == "recording"
        assert await recordings.unfinished() == ["running"]
        assert await live.recover() == []
    finally:
        await live.close()


async def test_a_restarted_node_replays_what_its_crash_cut_and_drops_partial_uploads(
    tmp_path: Path, redis_proc: RedisServer
) -> None:
    flusher = aioredis.Redis.from_url(redis_proc.url)
    await flusher.flushdb()
    await flusher.aclose()
    port = free_port()
    redis_args = ("--redis", redis_proc.url)
    first = await start_server_process(port, tmp_path, *redis_args)
    second = None
    video = CounterVideoTrack()
    alice = {"Authorization": f"Bearer {TokenIssuer(SECRET).mint('alice')}"}
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, first, port)

            async def exchange(sdp: str) -> str:
                headers = {**alice, "Content-Type": "application/sdp"}
                async with http.post(f"{url}/whip", data=sdp, headers=headers) as r:
                    assert r.status == 201
                    return await r.text()

            pc = await publish([video, ToneAudioTrack()], exchange)
            recordings = tmp_path / "recordings"

            def recorded_frames() -> int:
                paths = list(recordings.glob("*/alice-1.webm"))
                try:
                    return read_back(paths[0], decode=False).video_packets if paths else 0
                except (av.FFmpegError, OSError):  # the header is still being written
                    return 0

            await wait_for(lambda: recorded_frames() >= 60, 30, "2 s of media on disk")
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), 10)
            await pc.close()
            [path] = list(recordings.glob("*/alice-1.webm"))
            live_id = path.parent.name
            media = tmp_path / "media"
            media.mkdir(exist_ok=True)
            (media / "p_cut.part").write_bytes(b"half an upload")
            (media / "p_kept").write_bytes(b"a posted photo")

            second = await start_server_process(port, tmp_path, *redis_args)
            await wait_healthy(http, second, port)
            async with http.get(f"{url}/api/recordings", headers=alice) as r:
                assert r.status == 200
                [recording] = (await r.json())["recordings"]
            assert (recording["live_id"], recording["state"]) == (live_id, "interrupted")
            [file] = recording["files"]
            size = path.stat().st_size
            assert (file["name"], file["participant"], file["size"]) == (
                "alice-1.webm",
                "alice",
                size,
            )
            assert sorted(file["codecs"]) == ["opus", "vp8"]
            assert file["duration"] >= 1.5
            headers = {**alice, "Range": "bytes=100-1099"}
            async with http.get(url + file["url"], headers=headers) as r:
                assert r.status == 206
                assert r.headers["Content-Range"] == f"bytes 100-1099/{size}"
                assert await r.read() == path.read_bytes()[100:1100]
            assert not (media / "p_cut.part").exists()
            assert (media / "p_kept").read_bytes() == b"a posted photo"
    finally:
        await stop_process(first)
        if second is not None:
            await stop_process(second)

"""A killed server leaves a playable file; write errors and a full disk stop recording, not
the live."""

from __future__ import annotations

import asyncio
import errno
import signal
from pathlib import Path

import aiohttp
import pytest

from benchmarks.harness import free_port
from recorder.media_file import MediaFile, TrackSpec, WriteFailed
from recorder.participant import _errno_of
from signaling.appkeys import STREAMER
from signaling.auth import TokenIssuer
from streamer.bitstream import vp8_params
from tests.media.peers import publish, video_source, wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack
from tests.recorder.helpers import (
    SECRET,
    api,
    go_live_recorded,
    read_back,
    start_server_process,
    stop_process,
    vp8_keyframe,
    wait_healthy,
)
from tests.server import running_server, server_config


async def test_a_killed_server_leaves_a_file_that_plays_to_within_seconds_of_the_kill(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = await start_server_process(port, tmp_path)
    video = CounterVideoTrack()
    headers = {
        "Authorization": f"Bearer {TokenIssuer(SECRET).mint('alice')}",
        "Content-Type": "application/sdp",
    }
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, server, port)

            async def exchange(sdp: str) -> str:
                url = f"http://127.0.0.1:{port}/whip"
                async with http.post(url, data=sdp, headers=headers) as r:
                    assert r.status == 201
                    return await r.text()

            pc = await publish([video, ToneAudioTrack()], exchange)
            await wait_for(lambda: video.sent >= 5 * 30, 20, "5 s of media sent")
            server.send_signal(signal.SIGKILL)
            sent_at_kill = video.sent
            await asyncio.wait_for(server.wait(), 10)
            await pc.close()
    finally:
        await stop_process(server)
    [path] = list((tmp_path / "recordings").glob("*/alice-1.webm"))
    facts = read_back(path)
    assert sorted(facts.codecs) == ["opus", "vp8"]
    assert facts.duration is None, "the file was never finalized"
    assert facts.last["video"] >= sent_at_kill / 30 - 3.0, (facts.last, sent_at_kill)
    assert facts.decoded_frames >= facts.video_packets - 1


def _fill(media: MediaFile, keyframe: bytes) -> None:
    media.start({0: vp8_params(keyframe)})
    for index in range(200):
        media.write(0, keyframe, index * 3000, True)
    media.close()


def test_a_write_error_is_reported_with_its_cause() -> None:
    media = MediaFile(Path("/dev/full"), [TrackSpec("vp8", 90_000)])
    with pytest.raises(WriteFailed) as failed:
        _fill(media, vp8_keyframe())
    assert _errno_of(failed.value) == errno.ENOSPC


async def test_a_full_disk_stops_recording_tells_the_host_and_the_live_goes_on(
    tmp_path: Path,
) -> None:
    config = server_config(tmp_path, recording_min_free_bytes=1 << 62)
    async with running_server(config) as server:
        host = await server.socket("alice")
        try:
            live_id, pc = await go_live_recorded(server, "alice", [CounterVideoTrack()])
            failed = await host.next_of("recording.failed", live_id=live_id)
            assert failed["code"] == "disk_full"
            source = video_source(server.app[STREAMER].get(live_id))
            await wait_for(lambda: source.has_keyframe, 10, "the live's media")
            received = source._stats.frames_received
            await wait_for(lambda: source._stats.frames_received > received + 30, 10, "more frames")
            status, recording = await api(server, "alice", "GET", f"/api/recordings/{live_id}")
            assert (status, recording["state"], recording["failure"]) == (
                200,
                "failed",
                "disk_full",
            )
            await pc.close()
        finally:
            await host.close()

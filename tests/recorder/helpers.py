"""Shared helpers of the recorder tests: going live with recording, reading files back."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from asyncio.subprocess import Process
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from tests.media.peers import publish
from tests.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "crash-test-secret"


async def start_server_process(port: int, data_dir: Path, *extra: str) -> Process:
    """``directlive serve --record`` in a subprocess (tokens signed with ``SECRET``)."""
    argv = [sys.executable, "-m", "signaling.cli", "serve", "--port", str(port), "--record"]
    argv += ["--data-dir", str(data_dir), "--ice-address", "127.0.0.1", "--log-level", "WARNING"]
    env = {**os.environ, "DIRECTLIVE_SECRET": SECRET}
    return await asyncio.create_subprocess_exec(
        *argv, *extra, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL
    )


async def wait_healthy(http: aiohttp.ClientSession, server: Process, port: int) -> None:
    async def healthy() -> bool:
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    deadline = time.monotonic() + 30
    while not await healthy():
        if server.returncode is not None or time.monotonic() > deadline:
            pytest.fail("the server did not become healthy")
        await asyncio.sleep(0.1)


async def stop_process(server: Process) -> None:
    if server.returncode is None:
        server.kill()
        await server.wait()


def vp8_keyframe() -> bytes:
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    frame = av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8))
    frame = frame.reformat(format="yuv420p")
    frame.pts = 0
    return bytes(encoder.encode(frame)[0])


async def go_live_recorded(
    server: RunningServer, host: str, tracks: list[MediaStreamTrack]
) -> tuple[str, RTCPeerConnection]:
    """Publish ``tracks`` over WHIP with ``?record=1``; returns (live_id, publisher pc)."""
    live_ids: list[str] = []

    async def exchange(sdp: str) -> str:
        headers = {**server.auth(host), "Content-Type": "application/sdp"}
        url = f"{server.url}/whip?record=1"
        async with server.http.post(url, data=sdp, headers=headers) as response:
            body = await response.text()
            assert response.status == 201, body
            live_ids.append(response.headers["Location"].rsplit("/", 1)[1])
            return body

    pc = await publish(tracks, exchange)
    return live_ids[0], pc


async def api(
    server: RunningServer, user: str, method: str, path: str, body: object = None
) -> tuple[int, Any]:
    headers = server.auth(user)
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    async with server.http.request(method, server.url + path, headers=headers, data=data) as r:
        return r.status, await r.json()


@dataclass
class FileFacts:
    """What PyAV reads back from a recording."""

    codecs: tuple[str, ...]
    video_packets: int
    audio_packets: int
    duration: float | None
    """The container's own duration (None in a file never finalized)."""
    first: dict[str, float]
    """First packet time of each stream kind, seconds."""
    last: dict[str, float]
    decoded_frames: int


def read_back(path: Path, decode: bool = True) -> FileFacts:
    with av.open(str(path)) as container:
        codecs = tuple(s.codec_context.name for s in container.streams)
        counts = {"video": 0, "audio": 0}
        first: dict[str, float] = {}
        last: dict[str, float] = {}
        for packet in container.demux():
            if packet.pts is None or not packet.size:
                continue
            kind = packet.stream.type
            at = float(packet.pts * packet.time_base)
            counts[kind] += 1
            first.setdefault(kind, at)
            last[kind] = max(last.get(kind, at), at)
        duration = None if container.duration is None else container.duration / 1_000_000
    decoded = 0
    if decode:
        with av.open(str(path)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
    return FileFacts(codecs, counts["video"], counts["audio"], duration, first, last, decoded)

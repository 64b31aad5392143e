"""Shared helpers of the recorder tests: going live with recording, reading files back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from tests.media.peers import publish
from tests.server import RunningServer


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

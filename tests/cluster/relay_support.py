"""What the relay tests do on real nodes: publish, watch, read ``/metrics``."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from aiortc import MediaStreamTrack, RTCPeerConnection

from tests.media.peers import Viewer, publish
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack
from tests.server import ServerClient


async def go_live_on(
    node: ServerClient, host: str, video: MediaStreamTrack | None = None
) -> tuple[str, RTCPeerConnection]:
    """``host`` publishes counter video (or ``video``) and a tone to ``node`` over WHIP."""
    live_ids: list[str] = []

    async def exchange(sdp: str) -> str:
        live_id, answer = await node.whip(host, sdp)
        live_ids.append(live_id)
        return answer

    pc = await publish([video or CounterVideoTrack(), ToneAudioTrack()], exchange)
    return live_ids[0], pc


async def watch_on(
    node: ServerClient, user: str, live_id: str, *, audio: bool = False, decode: bool = True
) -> Viewer:
    """``user`` watches the live on ``node`` over WHEP with an aiortc viewer (decoding, or
    only collecting encoded frames)."""
    viewer = Viewer(audio=audio, decode=decode)

    async def exchange(sdp: str) -> str:
        _, answer = await node.whep(user, live_id, sdp)
        return answer

    try:
        await viewer.watch(exchange)
    except BaseException:
        await viewer.close()
        raise
    return viewer


async def metrics(node: ServerClient) -> dict[str, float]:
    """``/metrics`` as name -> value (samples without labels)."""
    async with node.http.get(f"{node.url}/metrics", headers=node.auth("ops")) as response:
        assert response.status == 200
        text = await response.text()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def increasing(counters: list[int]) -> bool:
    return len(counters) > 1 and counters == sorted(counters) and counters[-1] > counters[0]


async def wait_for_metric(
    node: ServerClient, name: str, value: float, timeout: float = 10.0
) -> None:
    """Poll ``node``'s ``/metrics`` until ``name`` reads ``value``."""
    deadline = time.monotonic() + timeout
    while (await metrics(node))[name] != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        await asyncio.sleep(0.1)


async def wait_for_members(
    redis: aioredis.Redis, key: str, members: list[bytes], timeout: float = 10.0
) -> None:
    """Poll until the Redis set ``key`` holds exactly ``members``."""
    deadline = time.monotonic() + timeout
    while sorted(await redis.smembers(key)) != members:
        assert time.monotonic() < deadline, f"{key} never became {members}"
        await asyncio.sleep(0.1)

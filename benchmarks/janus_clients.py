"""Load-generator peers for the Janus baseline: a plain-RTP publisher and HTTP-API viewers.

``rtp_publisher_worker`` plays the same loop, at the same pace, as the WHIP publisher
(``benchmarks.media.loop_tracks``), packetized by the same aiortc packers, but sends it as
plain RTP over UDP to the mountpoint's ports (on 127.0.0.1, or on the server's veth address).
``janus_viewers_worker`` joins the same lean viewers through Janus's HTTP API: create a
session, attach ``janus.plugin.streaming``, ``watch`` the mountpoint, answer Janus's offer,
``start``.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiortc import RTCRtpCodecParameters
from aiortc.codecs import get_encoder
from aiortc.rtp import RtpPacket

from benchmarks.clients import TapViewer, run_worker, serve_viewers
from benchmarks.harness import wait_message
from benchmarks.janus_server import AUDIO_PT, VIDEO_PT
from benchmarks.media import LoopTrack, MediaLoop, loop_tracks

VIDEO_MIME = {"vp8": "video/VP8", "h264": "video/H264"}
_transactions = itertools.count()
PACING_BURST = 16
PACING_PAUSE = 0.001
"""A large frame goes out ``PACING_BURST`` packets at a time with ``PACING_PAUSE`` s between:
a 128 KB keyframe sent in one burst overflows the mountpoint socket's default receive
buffer (Janus does not enlarge it) and loses the frame, which no paced encoder would cause."""


# ---- the publisher ----------------------------------------------------------------------


async def _send_rtp(
    track: LoopTrack,
    codec: RTCRtpCodecParameters,
    address: tuple[str, int],
    ssrc: int,
    sock: socket.socket,
) -> None:
    """Packetize every packet ``track`` plays and send it to ``address``."""
    encoder = get_encoder(codec)
    assert codec.payloadType is not None
    sequence = 0
    while True:
        payloads, timestamp = encoder.pack(await track.recv())
        last = len(payloads) - 1
        for index, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=codec.payloadType,
                marker=int(index == last),
                sequence_number=sequence & 0xFFFF,
                timestamp=timestamp & 0xFFFFFFFF,
                ssrc=ssrc,
                payload=payload,
            )
            sequence += 1
            sock.sendto(packet.serialize(), address)
            if index % PACING_BURST == PACING_BURST - 1:
                await asyncio.sleep(PACING_PAUSE)


def rtp_publisher_worker(
    pipe: Connection, host: str, video_port: int, audio_port: int, loop: MediaLoop
) -> None:
    """Send ``loop`` as RTP to ``host``; send ("live", mountpoint); on "stop" send ("sent",
    times, 0)."""

    async def main() -> None:
        video, audio = loop_tracks(loop)
        video_codec = RTCRtpCodecParameters(
            mimeType=VIDEO_MIME[loop.codec], clockRate=90_000, payloadType=VIDEO_PT
        )
        audio_codec = RTCRtpCodecParameters(
            mimeType="audio/opus", clockRate=48_000, channels=2, payloadType=AUDIO_PT
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            senders = [
                asyncio.ensure_future(_send_rtp(track, codec, (host, port), ssrc, sock))
                for track, codec, port, ssrc in (
                    (video, video_codec, video_port, 0x1111),
                    (audio, audio_codec, audio_port, 0x2222),
                )
            ]
            pipe.send(("live", None))
            stop = asyncio.ensure_future(wait_message(pipe))
            await asyncio.wait([stop, *senders], return_when=asyncio.FIRST_COMPLETED)
            for task in [stop, *senders]:
                task.cancel()
            for sender in senders:
                if sender.done() and not sender.cancelled() and sender.exception() is not None:
                    raise RuntimeError("the RTP publisher failed") from sender.exception()
        # Janus's RTP mountpoint has no RTCP port configured: no keyframe requests reach us.
        pipe.send(("sent", video.sent, video.keyframe_requests))

    run_worker(pipe, main)


# ---- viewers -----------------------------------------------------------------------------


async def janus_request(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    """POST one Janus API request; its reply (an error reply raises)."""
    message = {**body, "transaction": str(next(_transactions))}
    async with http.post(url, json=message) as response:
        reply: Any = await response.json(content_type=None)
    if response.status != 200 or reply.get("janus") == "error":
        raise RuntimeError(f"janus answered {response.status} to {body}: {reply}")
    return reply


async def janus_offer(http: aiohttp.ClientSession, url: str, deadline: float) -> str:
    """Long-poll the session's events (``url``) until one carries Janus's SDP offer."""
    while time.monotonic() < deadline:
        async with http.get(url, params={"maxev": "5"}) as response:
            events: Any = await response.json(content_type=None)
        for event in events if isinstance(events, list) else [events]:
            plugin = event.get("plugindata", {}).get("data", {})
            if "error" in plugin:
                raise RuntimeError(f"janus refused to stream: {plugin}")
            jsep = event.get("jsep")
            if jsep is not None and jsep.get("type") == "offer":
                sdp: str = jsep["sdp"]
                return sdp
    raise RuntimeError("janus sent no offer before the deadline")


async def join_janus(
    http: aiohttp.ClientSession, viewer: TapViewer, base: str, mountpoint: int, deadline: float
) -> None:
    """create, attach the streaming plugin, watch, answer the offer, start."""
    session = (await janus_request(http, base, {"janus": "create"}))["data"]["id"]
    attach = {"janus": "attach", "plugin": "janus.plugin.streaming"}
    handle = (await janus_request(http, f"{base}/{session}", attach))["data"]["id"]
    handle_url = f"{base}/{session}/{handle}"
    watch = {"request": "watch", "id": mountpoint}
    await janus_request(http, handle_url, {"janus": "message", "body": watch})
    answer = await viewer.accept(await janus_offer(http, f"{base}/{session}", deadline))
    start = {
        "janus": "message",
        "body": {"request": "start"},
        "jsep": {"type": "answer", "sdp": answer},
    }
    await janus_request(http, handle_url, start)


def janus_viewers_worker(
    pipe: Connection,
    base: str,
    mountpoint: int,
    users: list[str],
    codec: str,
    crc_index: dict[int, int] | None,
    concurrency: int,
    lean: bool,
) -> None:
    """Like ``benchmarks.clients.viewers_worker``, joining through Janus's HTTP API."""

    async def join(
        http: aiohttp.ClientSession, viewer: TapViewer, user: str, deadline: float
    ) -> None:
        await join_janus(http, viewer, base, mountpoint, deadline)

    run_worker(
        pipe,
        lambda: serve_viewers(
            pipe, users, join, codec, crc_index, concurrency, lean, sample_from_keyframe=True
        ),
    )

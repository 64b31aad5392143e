"""Load-generator peers: a looping publisher and viewers that count frames via the tap.

``publisher_worker`` and ``viewers_worker`` are the bodies of spawned processes (see
``benchmarks.harness.spawn``); they report over their pipe and stop on ``"stop"``.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
import traceback
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiortc import (
    RTCPeerConnection,
    RTCRtpCodecParameters,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.codecs import depayload
from aiortc.mediastreams import MediaStreamTrack

from benchmarks.harness import token, wait_message
from benchmarks.media import (
    FPS,
    VIDEO_TICKS,
    VIDEO_TIME_BASE,
    Clock,
    LoopTrack,
    MediaLoop,
    decode_counters,
    is_keyframe,
    loop_tracks,
)
from streamer import LOOPBACK, HostAddresses, new_peer_connection
from streamer.aiortc.sender_state import name_stream, redirect_keyframe_requests
from streamer.aiortc.tap import tap_receiver
from streamer.aiortc.transport_state import handle_rtp_with, unprotect_from_socket

Exchange = Callable[[str], Awaitable[str]]


class NotReady(Exception):
    """The live has no media yet (409): try again shortly."""


CLIENT_ADDRESS_ENV = "DIRECTLIVE_BENCH_CLIENT_ADDRESS"
"""The load generator's address (``--topology netns``: its veth's), inherited by the spawned
load processes; unset: 127.0.0.1."""


def client_pc() -> RTCPeerConnection:
    address = os.environ.get(CLIENT_ADDRESS_ENV)
    return new_peer_connection(LOOPBACK if address is None else HostAddresses([address]))


async def post_sdp(http: aiohttp.ClientSession, url: str, user: str, sdp: str) -> tuple[str, str]:
    """POST an offer (WHIP or WHEP); returns (Location, answer)."""
    headers = {"Authorization": f"Bearer {token(user)}", "Content-Type": "application/sdp"}
    async with http.post(url, data=sdp, headers=headers) as response:
        body = await response.text()
        if response.status == 409 and "live_not_ready" in body:
            raise NotReady
        if response.status != 201:
            raise RuntimeError(f"{url} answered {response.status}: {body[:300]}")
        return response.headers["Location"], body


def whep_exchange(http: aiohttp.ClientSession, base: str, live_id: str, user: str) -> Exchange:
    async def exchange(sdp: str) -> str:
        return (await post_sdp(http, f"{base}/whep/{live_id}", user, sdp))[1]

    return exchange


def run_worker(pipe: Connection, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """A worker process's body: run ``main``, report a crash on ``pipe``."""
    try:
        asyncio.run(main())
    except BaseException:
        pipe.send(("error", traceback.format_exc()))
        raise


# ---- the publisher ----------------------------------------------------------------------


def publisher_worker(
    pipe: Connection,
    base: str,
    loop: MediaLoop,
    restart_on_pli: bool,
    lower_layers: list[list[bytes]] | None = None,
) -> None:
    """Publish ``loop`` over WHIP; send ("live", live_id); on "stop" send ("sent", times).
    With ``lower_layers`` (each a loop of frames), ``loop`` is the top layer of a layered
    picture and each lower layer goes on its own m-line of the same msid stream."""

    async def main() -> None:
        video, audio = loop_tracks(loop, restart_on_pli=restart_on_pli)
        pc = client_pc()
        sender = pc.addTransceiver(video, direction="sendonly").sender
        # aiortc turns a PLI into a flag for its own encoders; this track wants it instead.
        redirect_keyframe_requests(sender, video.request_keyframe)
        if lower_layers:
            name_stream(sender, "camera", "layer0")
            for index, frames in enumerate(lower_layers, start=1):
                lower = LoopTrack(
                    "video",
                    frames,
                    Clock(),
                    period=1 / FPS,
                    ticks=VIDEO_TICKS,
                    time_base=VIDEO_TIME_BASE,
                    restart_on_pli=restart_on_pli,
                )
                layer = pc.addTransceiver(lower, direction="sendonly").sender
                name_stream(layer, "camera", f"layer{index}")
                redirect_keyframe_requests(layer, lower.request_keyframe)
        pc.addTransceiver(audio, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        async with aiohttp.ClientSession() as http:
            location, answer = await post_sdp(http, f"{base}/whip", "host", pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            pipe.send(("live", location.rsplit("/", 1)[1]))
            await wait_message(pipe)
        await pc.close()
        pipe.send(("sent", video.sent, video.keyframe_requests))

    run_worker(pipe, main)


# ---- viewers -----------------------------------------------------------------------------


@dataclass
class Receipts:
    """What one viewer received: per video frame its arrival time, RTP timestamp, CRC."""

    times: list[float] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    crcs: list[int] = field(default_factory=list)
    audio: int = 0
    first: list[bytes] = field(default_factory=list)
    """The first few frames' bytes, to decode a sample."""


class TapViewer:
    """An aiortc viewer that taps encoded frames (no decoding) and records them."""

    KEEP = 40

    def __init__(self, sample_from_keyframe: bool = False) -> None:
        self.pc = client_pc()
        self._sample_from_keyframe = sample_from_keyframe
        """Keep the sample's frames from the first keyframe on: a server that starts a
        viewer mid-GOP (Janus) would otherwise leave it nothing decodable."""
        self.receipts = Receipts()
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
        tap_receiver(receiver, self._on_video if track.kind == "video" else self._on_audio)

    def _on_video(self, codec: object, data: bytes, timestamp: int) -> None:
        receipts = self.receipts
        receipts.times.append(time.monotonic())
        receipts.timestamps.append(timestamp)
        receipts.crcs.append(zlib.crc32(data))
        keep = receipts.first or not self._sample_from_keyframe or is_keyframe(codec, data)
        if keep and len(receipts.first) < self.KEEP:
            receipts.first.append(data)

    def _on_audio(self, codec: object, data: bytes, timestamp: int) -> None:
        self.receipts.audio += 1

    async def watch(self, exchange: Exchange, deadline: float) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        assert self.pc.localDescription is not None
        while True:
            try:
                answer = await exchange(self.pc.localDescription.sdp)
                break
            except NotReady:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def accept(self, offer: str) -> str:
        """Answer a server's offer (Janus offers, the viewer answers); the answer's SDP."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        assert self.pc.localDescription is not None
        return self.pc.localDescription.sdp


class LeanViewer(TapViewer):
    """Like ``TapViewer``, but reassembles frames itself from SRTP-decrypted packets.

    aiortc's receiver (bitrate estimator, NACK generator, jitter buffer, RTCP) costs more
    per packet than the server spends forwarding it, so one load core cannot hold 100 tap
    viewers at 30 fps. This viewer keeps aiortc's ICE, DTLS and SRTP and replaces only the
    per-packet handling: a frame is complete at its marker bit when its sequence numbers
    are contiguous (no NACK: a frame missing a packet counts as lost), as a browser would.
    Once connected (``go_direct``), SRTP packets skip aioice's and aiortc's per-packet
    coroutines too: the ICE socket's protocol decrypts and handles them synchronously,
    reading every datagram already queued at each wake-up, and only counts audio packets
    (payload type in the clear header) without decrypting them.
    """

    def _on_track(self, track: MediaStreamTrack) -> None:
        pass

    async def watch(self, exchange: Exchange, deadline: float) -> None:
        await super().watch(exchange, deadline)
        self._take_over()

    async def accept(self, offer: str) -> str:
        answer = await super().accept(offer)
        self._take_over()
        return answer

    def _take_over(self) -> None:
        """Once negotiated: the payload types to expect, and SRTP-decrypted RTP to ``_on_rtp``."""
        description = self.pc.remoteDescription
        assert description is not None
        codecs: dict[int, RTCRtpCodecParameters] = {}
        for media in aiortc_sdp.SessionDescription.parse(description.sdp).media:
            for codec in media.rtp.codecs:
                if codec.payloadType is not None:
                    codecs[codec.payloadType] = codec
        self._codecs = codecs
        self._audio_types = frozenset(
            kind for kind, codec in codecs.items() if codec.mimeType.lower().startswith("audio/")
        )
        self._vp8_types = frozenset(
            kind for kind, codec in codecs.items() if codec.mimeType.lower() == "video/vp8"
        )
        self._parts: list[bytes] = []
        self._timestamp: int | None = None
        self._next_seq = -1
        self._broken = False
        self._origin: int | None = None
        for transport in {t.receiver.transport for t in self.pc.getTransceivers()}:
            handle_rtp_with(transport, self._on_rtp)

    def go_direct(self) -> None:
        """Handle SRTP straight from the nominated pair's socket (STUN and DTLS still go
        through aioice and aiortc), draining what the socket holds at each wake-up; audio
        packets are counted from their clear header without being decrypted (nothing is
        checked in them but that they arrive); RTCP from the server is ignored, as before."""
        for transport in {t.receiver.transport for t in self.pc.getTransceivers()}:
            unprotect_from_socket(transport, self._rtp, self._audio_types, self._count_audio)

    def _count_audio(self) -> None:
        self.receipts.audio += 1

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        self._rtp(data)

    def _rtp(self, data: bytes) -> None:
        first, second = data[0], data[1]
        codec = self._codecs.get(second & 0x7F)
        if codec is None:
            return
        if codec.mimeType.lower().startswith("audio/"):
            self.receipts.audio += 1
            return
        seq, timestamp = struct.unpack_from("!HI", data, 2)
        position = 12 + 4 * (first & 0x0F)
        if first & 0x10:
            position += 4 + 4 * int.from_bytes(data[position + 2 : position + 4])
        end = len(data) - data[-1] if first & 0x20 else len(data)
        if timestamp != self._timestamp:
            self._timestamp = timestamp
            self._parts = []
            self._broken = False
        elif seq != self._next_seq:
            self._broken = True
        self._next_seq = (seq + 1) & 0xFFFF
        try:
            if second & 0x7F in self._vp8_types:  # aiortc's depayload, minus its objects
                self._parts.append(data[position + vp8_descriptor_size(data, position) : end])
            else:
                self._parts.append(depayload(codec, data[position:end]))
        except (ValueError, IndexError):
            self._broken = True
        if second & 0x80 and not self._broken:
            if self._origin is None:
                self._origin = timestamp
            relative = (timestamp - self._origin) & 0xFFFFFFFF
            self._on_video(codec, b"".join(self._parts), relative - (relative >> 31 << 32))
            self._parts = []


def vp8_descriptor_size(data: bytes, at: int) -> int:
    """Bytes of the VP8 payload descriptor starting at ``at`` (RFC 7741, section 4.2)."""
    if not data[at] & 0x80:  # X: no extension byte
        return 1
    extension, size = data[at + 1], 2
    if extension & 0x80:  # I: a 7- or 15-bit picture id
        size += 2 if data[at + size] & 0x80 else 1
    if extension & 0x40:  # L: TL0PICIDX
        size += 1
    if extension & 0x30:  # T or K: TID/KEYIDX
        size += 1
    return size


@dataclass
class ViewerReport:
    """Sent back to the orchestrator for one viewer."""

    receipts: Receipts
    anchor: tuple[int, int] | None = None
    """(index of a received frame, counter decoded from it): ties transcoded frames to
    the loop when their bytes cannot (the MediaRelay baseline)."""
    sample_ok: bool | None = None
    """Whether a decoded sample showed the counters the frames' bytes promise."""


CONNECT_SECONDS = 60
"""From a viewer's answer to its ICE and DTLS being up (generous: a shared machine under
load stretches hundreds of DTLS handshakes)."""

Join = Callable[[aiohttp.ClientSession, TapViewer, str, float], Awaitable[None]]
"""Negotiates one viewer as ``user`` (by ``deadline``) over the server's signaling."""


def viewers_worker(
    pipe: Connection,
    base: str,
    live_id: str,
    users: list[str],
    codec: str,
    crc_index: dict[int, int] | None,
    concurrency: int,
    lean: bool,
) -> None:
    """Attach ``users`` as WHEP viewers; send ("joined", n); on "stop" send ("reports", [...])."""

    async def join(
        http: aiohttp.ClientSession, viewer: TapViewer, user: str, deadline: float
    ) -> None:
        await viewer.watch(whep_exchange(http, base, live_id, user), deadline)

    run_worker(pipe, lambda: serve_viewers(pipe, users, join, codec, crc_index, concurrency, lean))


async def serve_viewers(
    pipe: Connection,
    users: list[str],
    join: Join,
    codec: str,
    crc_index: dict[int, int] | None,
    concurrency: int,
    lean: bool,
    sample_from_keyframe: bool = False,
) -> None:
    """Join ``users`` (``concurrency`` at a time), report ("joined", n) once all are connected,
    count frames until "stop", then send ("reports", [...]).

    ``sample_from_keyframe``: the server may start a viewer mid-GOP (Janus), so the decoded
    sample starts at the viewer's first keyframe."""
    kind = LeanViewer if lean else TapViewer
    viewers = [kind(sample_from_keyframe) for _ in users]
    limit = asyncio.Semaphore(concurrency)
    deadline = time.monotonic() + 60 + len(users)
    async with aiohttp.ClientSession() as http:

        async def joined(viewer: TapViewer, user: str) -> None:
            async with limit:
                await join(http, viewer, user, deadline)
            # Direct as soon as connected: while later viewers join, the early ones' media
            # would otherwise take aiortc's costly per-packet path on the same core.
            connected = time.monotonic() + CONNECT_SECONDS
            while viewer.pc.connectionState != "connected":
                if time.monotonic() > connected:
                    raise RuntimeError(
                        f"a viewer did not connect within {CONNECT_SECONDS} s (ICE "
                        f"{viewer.pc.iceConnectionState}, peer {viewer.pc.connectionState})"
                    )
                await asyncio.sleep(0.05)
            if isinstance(viewer, LeanViewer):
                viewer.go_direct()

        await asyncio.gather(*(joined(v, u) for v, u in zip(viewers, users, strict=True)))
        pipe.send(("joined", len(viewers)))
        await wait_message(pipe)
    await asyncio.gather(*(v.pc.close() for v in viewers))
    reports = [_report(v.receipts, codec, crc_index, i == 0) for i, v in enumerate(viewers)]
    pipe.send(("reports", reports))


def _report(
    receipts: Receipts,
    codec: str,
    crc_index: dict[int, int] | None,
    sample: bool,
) -> ViewerReport:
    report = ViewerReport(receipts)
    if crc_index is None:  # transcoded: find one decodable frame to anchor on
        for index, counter in enumerate(decode_counters(codec, receipts.first)):
            if counter is not None:
                report.anchor = (index, counter)
                break
    elif sample:
        counters = decode_counters(codec, receipts.first)
        promised = [crc_index.get(zlib.crc32(data)) for data in receipts.first]
        report.sample_ok = bool(counters) and counters == promised[: len(counters)]
    receipts.first = []
    return report

"""``streamer.forwarding.forwarder``: the per-viewer RTP path that replaces aiortc's sender loop.

The end-to-end guards (byte-identical frames, stalled and late viewers, browsers, FFmpeg,
co-broadcast) run on it by default; these tests cover what it must do on its own: answer
NACKs, feed aiortc's sender reports, keep a backed-up viewer bounded, and leave aiortc's own
loop selectable.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from types import SimpleNamespace
from typing import Any, cast

import pylibsrtp
import pytest
from aioice.ice import StunProtocol
from aiortc import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpSender,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

import streamer.forwarding.datagrams as datagrams
import streamer.forwarding.forwarder as rtp_forwarder
from streamer import MediaConfig, Streamer
from streamer.config import FAST_FORWARDING_ENV
from streamer.forwarding.datagrams import UdpGso, send_segmented
from streamer.forwarding.forwarder import forwarder_of
from streamer.forwarding.gcm import SRTP_GCM
from streamer.forwarding.lane import lane_available, ntp_time
from streamer.frames import EncodedFrame
from tests.media.peers import Exchange, Viewer, publish, video_source, wait_for, watching
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack

RECEIVER_STATS = "_RTCRtpReceiver__stats"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


def video_sender(streamer: Streamer, live_id: str, session_id: str) -> RTCRtpSender:
    session = streamer.local_session(live_id, session_id)
    return next(t.sender for t in session.pc.getTransceivers() if t.kind == "video")


@pytest.fixture
async def streamer() -> AsyncIterator[Streamer]:
    s = Streamer(
        MediaConfig(
            publisher_grace_seconds=0.5, viewer_queue_limit=30, ice_addresses=("127.0.0.1",)
        )
    )
    yield s
    await s.close()


def test_ntp_time_matches_aiortc_clock() -> None:
    from aiortc import clock

    ours = ntp_time(clock.current_datetime().timestamp())
    theirs = clock.current_ntp_time()
    assert abs(ours - theirs) < (1 << 32)  # within a second of each other


def test_the_flag_defaults_on_and_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MediaConfig().fast_forwarding
    monkeypatch.setenv(FAST_FORWARDING_ENV, "0")
    assert not MediaConfig().fast_forwarding


def drop_video_packets(viewer: Viewer, every: int) -> set[int]:
    """Make ``viewer`` lose the first copy of every ``every``-th video packet it receives
    (after SRTP, before aiortc's receiver); returns the dropped sequence numbers."""
    remote = viewer.pc.remoteDescription
    assert remote is not None
    video_types = {
        codec.payloadType
        for media in aiortc_sdp.SessionDescription.parse(remote.sdp).media
        for codec in media.rtp.codecs
        if codec.mimeType.lower() == "video/vp8"
    }
    dropped: set[int] = set()
    transports = {t.receiver.transport for t in viewer.pc.getTransceivers()}
    for transport in transports:
        original: Callable[[bytes, int], Coroutine[Any, Any, None]] = transport._handle_rtp_data

        async def handle(
            data: bytes,
            arrival_time_ms: int,
            original: Callable[[bytes, int], Coroutine[Any, Any, None]] = original,
        ) -> None:
            if data[1] & 0x7F in video_types:
                seq = int.from_bytes(data[2:4], "big")
                if seq % every == 0 and seq not in dropped:
                    dropped.add(seq)
                    return
            await original(data, arrival_time_ms)

        setattr(transport, "_handle_rtp_data", handle)  # noqa: B010
    return dropped


class _LosingSession:
    """Stands in for a viewer's receiving SRTP session: the first copy of every ``every``-th
    video packet is lost before it is decrypted, so that its resent copy (same SSRC and
    sequence number, without RTX) is not a replay to libsrtp."""

    def __init__(self, inner: Session, video_types: set[int], every: int) -> None:
        self.inner, self.video_types, self.every = inner, video_types, every
        self.dropped: set[int] = set()

    def unprotect(self, data: bytes) -> bytes:
        seq = int.from_bytes(data[2:4], "big")
        video = data[1] & 0x7F in self.video_types
        if video and seq % self.every == 0 and seq not in self.dropped:
            self.dropped.add(seq)
            raise pylibsrtp.Error("lost on purpose")
        packet: bytes = self.inner.unprotect(data)
        return packet

    def unprotect_rtcp(self, data: bytes) -> bytes:
        packet: bytes = self.inner.unprotect_rtcp(data)
        return packet


async def lose_video_packets_before_srtp(viewer: Viewer, every: int) -> set[int]:
    """Like ``drop_video_packets``, but before SRTP (once the viewer's DTLS is up)."""
    remote = viewer.pc.remoteDescription
    assert remote is not None
    video_types = {
        codec.payloadType or 0
        for media in aiortc_sdp.SessionDescription.parse(remote.sdp).media
        for codec in media.rtp.codecs
        if codec.mimeType.lower() == "video/vp8"
    }
    transports = {t.receiver.transport for t in viewer.pc.getTransceivers()}
    await wait_for(lambda: all(t._rx_srtp is not None for t in transports), 10, "SRTP keys")
    dropped: set[int] = set()
    for transport in transports:
        losing = _LosingSession(transport._rx_srtp, video_types, every)
        losing.dropped = dropped
        setattr(transport, "_rx_srtp", losing)  # noqa: B010
    return dropped


def without_rtx(exchange: Exchange, answers: list[str]) -> Exchange:
    """``exchange`` with RTX taken out of the offer (answers noted in ``answers``): lost
    packets are then resent as they were, on the media SSRC (through the GCM path when it
    protects the viewer's RTP)."""

    async def offer_without_rtx(sdp: str) -> str:
        rtx = set(re.findall(r"a=rtpmap:(\d+) rtx/", sdp))
        lines = []
        for line in sdp.splitlines():
            if (
                re.match(r"a=(rtpmap|fmtp|rtcp-fb):(\d+) ", line)
                and line.split(":")[1].split()[0] in rtx
            ):
                continue
            if line.startswith("a=ssrc-group:FID"):
                continue
            if line.startswith("m=video"):
                line = " ".join(part for part in line.split() if part not in rtx)
            lines.append(line)
        answers.append(await exchange("\r\n".join(lines) + "\r\n"))
        return answers[-1]

    return offer_without_rtx


@pytest.mark.parametrize("rtx", [True, False], ids=["rtx", "no-rtx"])
async def test_lost_packets_are_retransmitted_and_the_viewer_decodes_every_frame(
    streamer: Streamer, rtx: bool
) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30)], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewer = Viewer(audio=False)
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        exchange = watching(streamer, live_id, "bob", sessions)
        answers: list[str] = []
        await viewer.watch(exchange if rtx else without_rtx(exchange, answers))
        assert rtx or "rtx/" not in answers[0]
        if rtx:
            dropped = drop_video_packets(viewer, every=7)
        else:  # resent as they were: lost before SRTP, or the resent copy is a replay
            dropped = await lose_video_packets_before_srtp(viewer, every=7)
        forwarder = forwarder_of(video_sender(streamer, live_id, sessions[0]))
        assert forwarder is not None, "the viewer is not on the fast path"
        await wait_for(lambda: len(viewer.received.counters) >= 90, 20, "90 decoded frames")
        assert len(dropped) >= 10
        assert forwarder.retransmissions >= len(dropped) // 2
        assert forwarder.protected_by == ("gcm" if SRTP_GCM is not None else "libsrtp")
        counters = viewer.received.counters
        assert all(b > a for a, b in itertools.pairwise(counters)), counters
        # Without retransmission one packet in seven lost costs about a quarter of the frames;
        # a retransmission that comes too late for the jitter buffer on a loaded machine may
        # still cost one now and then.
        missing = counters[-1] - counters[0] + 1 - len(counters)
        assert missing <= max(3, len(counters) // 20), f"{missing} frames lost for good"
    finally:
        await viewer.close()
        await publisher.close()


async def test_sender_reports_carry_the_forwarders_counters(streamer: Streamer) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30), ToneAudioTrack()],
        lambda sdp: streamer.publish(live_id, "alice", sdp),
    )
    viewer = Viewer(decode=False)
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        await viewer.watch(watching(streamer, live_id, "bob", sessions))
        forwarder = forwarder_of(video_sender(streamer, live_id, sessions[0]))
        assert forwarder is not None
        reports: dict[str, Any] = {}

        def reported() -> bool:
            for transceiver in viewer.pc.getTransceivers():
                # What aiortc's receiver recorded from the last SR (getStats reads the same).
                stats = getattr(transceiver.receiver, RECEIVER_STATS)
                for stat in stats.values():
                    if stat.type == "remote-outbound-rtp" and stat.packetsSent > 0:
                        reports[transceiver.kind] = stat
            return {"video", "audio"} <= set(reports)

        await wait_for(reported, 15, "a sender report on both tracks")
        video = reports["video"]
        assert 0 < video.packetsSent <= forwarder.packets_sent
        assert 0 < video.bytesSent <= forwarder.octets_sent
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_backed_up_socket_keeps_the_viewer_bounded_then_it_recovers(
    streamer: Streamer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30)], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewer = Viewer(audio=False)
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        await viewer.watch(watching(streamer, live_id, "bob", sessions))
        await wait_for(lambda: len(viewer.received.counters) >= 30, 15, "30 decoded frames")
        session = streamer.local_session(live_id, sessions[0])
        (_, track) = session.tracks[0]
        monkeypatch.setattr(rtp_forwarder, "WRITE_BUFFER_LIMIT", -1)  # every socket "full"
        await wait_for(lambda: track.frames_dropped > 45, 15, "the viewer's queue overflowing")
        assert track.queued <= 30
        monkeypatch.setattr(rtp_forwarder, "WRITE_BUFFER_LIMIT", 256 * 1024)
        decoded = len(viewer.received.counters)
        await wait_for(lambda: len(viewer.received.counters) >= decoded + 30, 15, "decoding again")
        assert streamer.stats.keyframe_requests_upstream >= 1
    finally:
        await viewer.close()
        await publisher.close()


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "aiortc"])
async def test_both_paths_deliver_video_and_audio(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAST_FORWARDING_ENV, "1" if fast else "0")
    streamer = Streamer(MediaConfig(publisher_grace_seconds=0.5, ice_addresses=("127.0.0.1",)))
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30), ToneAudioTrack()],
        lambda sdp: streamer.publish(live_id, "alice", sdp),
    )
    viewer = Viewer()
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        await viewer.watch(watching(streamer, live_id, "bob", sessions))
        await wait_for(
            lambda: len(viewer.received.counters) >= 45 and viewer.received.audio_frames > 20,
            20,
            "video and audio",
        )
        sender = video_sender(streamer, live_id, sessions[0])
        assert (forwarder_of(sender) is not None) is fast
        if fast and lane_available():
            assert video_source(streamer.get(live_id)).lane_size == 1
            assert (forwarder := forwarder_of(sender)) is not None
            assert forwarder.lane_joins >= 1
        if fast:
            # aiortc's viewer negotiates AEAD-AES-256-GCM: the frames it decoded were
            # protected by streamer.forwarding._srtpgcm, not libsrtp.
            assert (forwarder := forwarder_of(sender)) is not None
            assert forwarder.protected_by == ("gcm" if SRTP_GCM is not None else "libsrtp")
        counters = viewer.received.counters
        assert all(b > a for a, b in itertools.pairwise(counters)), counters
    finally:
        await viewer.close()
        await publisher.close()
        await streamer.close()


class _FakeViewer:
    """Just the aiortc objects ``RtpForwarder`` reads, around a real SRTP session and a real
    UDP socket (the nominated pair's) that sends to ``receiver``; with ``wrapped``, something
    stands between aiortc and that socket, so the forwarder must go through aiortc."""

    def __init__(self, key: bytes, transport: Any, receiver: socket.socket, wrapped: bool) -> None:
        extensions = HeaderExtensionsMap()
        extensions.configure(
            RTCRtpParameters(
                headerExtensions=[
                    RTCRtpHeaderExtensionParameters(
                        id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"
                    ),
                    RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
                ]
            )
        )
        protocol = StunProtocol(cast(Any, None))
        protocol.transport = transport
        pair = SimpleNamespace(protocol=protocol, remote_addr=receiver.getsockname())
        connection = SimpleNamespace(_nominated={1: pair}, send=print)

        async def send(data: bytes) -> None:
            transport.sendto(data, pair.remote_addr)

        self.dtls = SimpleNamespace(
            _state=DtlsState.CONNECTED,
            transport=SimpleNamespace(
                _connection=connection, _send=send if wrapped else connection.send
            ),
            _tx_srtp=Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND)),
            _RTCDtlsTransport__tx_packets=0,
            _RTCDtlsTransport__tx_bytes=0,
        )
        self.sender: Any = SimpleNamespace(
            _enabled=True,
            transport=self.dtls,
            _ssrc=1234,
            _RTCRtpSender__rtp_started=asyncio.Event(),
            _RTCRtpSender__rtp_exited=asyncio.Event(),
            _RTCRtpSender__rtp_header_extensions_map=extensions,
            _RTCRtpSender__mid="0",
        )
        self.extensions = extensions
        self.queue: list[tuple[EncodedFrame, int]] = []
        self.drain: Callable[[], None] = lambda: None

    # The ViewerTrack side.
    readyState = "live"

    def attach(self, drain: Callable[[], None]) -> None:
        self.drain = drain

    def detach(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def take_ready(self) -> list[tuple[EncodedFrame, int]]:
        ready, self.queue = self.queue, []
        return ready


def test_the_c_forwarding_path_is_built_on_linux() -> None:
    """``make test`` installs with a C compiler: the fast path must not silently fall back."""
    if sys.platform.startswith("linux") and os.environ.get("DIRECTLIVE_FAST_SEND") != "0":
        assert datagrams.FAST_SEND is not None


@pytest.mark.parametrize("code", ["c", "python"])
@pytest.mark.parametrize("path", ["gso", "datagrams", "aiortc"])
async def test_packets_go_out_protected_batched_and_can_be_rebuilt_for_nack(
    path: str, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if code == "c" and datagrams.FAST_SEND is None:
        pytest.fail("streamer.forwarding._fastsend was not built")
    if code == "python":
        monkeypatch.setattr(datagrams, "FAST_SEND", None)
    key = os.urandom(30)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    receiver.settimeout(5)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    viewer = _FakeViewer(key, transport, receiver, wrapped=path == "aiortc")
    forwarder = rtp_forwarder.RtpForwarder(
        viewer.sender, cast(Any, viewer), "video/VP8", lambda: None, UdpGso(path == "gso")
    )
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    task = asyncio.ensure_future(forwarder._run(codec))
    try:
        await asyncio.sleep(0)
        # A keyframe cut into more packets than one GSO batch holds, a one-packet frame,
        # a frame of equal-sized packets.
        frames = [
            EncodedFrame(os.urandom(200_000), 0, True),
            EncodedFrame(os.urandom(500), 3000, False, picture_id=1),
            EncodedFrame(os.urandom(1286 * 3), 6000, False, picture_id=2),
        ]
        viewer.queue = [(frame, frame.timestamp) for frame in frames[:2]]
        viewer.drain()
        viewer.queue = [(frames[2], frames[2].timestamp)]
        viewer.drain()
        await asyncio.gather(*forwarder._fallback)  # sends through aiortc's ICE transport
        expected = [
            (payload, frame.timestamp, index == len(frame.payloads or []) - 1)
            for frame in frames
            for index, payload in enumerate(frame.payloads or [])
        ]
        unprotect = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND)).unprotect
        sent = [unprotect(receiver.recv(2048)) for _ in expected]
        packets = [RtpPacket.parse(data, viewer.extensions) for data in sent]
        first = packets[0].sequence_number
        origin = packets[0].timestamp
        for number, (packet, (payload, timestamp, marker)) in enumerate(
            zip(packets, expected, strict=True)
        ):
            assert packet.payload == payload
            assert packet.marker == marker
            assert packet.sequence_number == (first + number) & 0xFFFF
            assert packet.timestamp == (origin + timestamp) & 0xFFFFFFFF
            assert (packet.ssrc, packet.payload_type, packet.extensions.mid) == (1234, 96, "0")
            assert packet.extensions.abs_send_time is not None
        assert len(sent) > 128
        assert (forwarder.segmented_sends >= 4) is (path == "gso")
        assert forwarder.packets_sent == len(expected) == viewer.dtls._RTCDtlsTransport__tx_packets
        assert viewer.sender._RTCRtpSender__packet_count == len(expected)
        assert forwarder.octets_sent == sum(len(payload) for payload, _, _ in expected)
        assert viewer.dtls._RTCDtlsTransport__tx_bytes == sum(len(p) for p in sent) + 10 * len(sent)
        # NACK: the last 128 packets are rebuilt byte for byte, older ones are gone.
        for number in range(len(sent) - 128, len(sent)):
            assert forwarder._rebuild((first + number) & 0xFFFF) == sent[number]
        assert forwarder._rebuild((first + len(sent) - 129) & 0xFFFF) is None
        assert forwarder._rebuild((first + len(sent)) & 0xFFFF) is None
    finally:
        forwarder._finish()
        await task
        transport.close()
        receiver.close()


def test_a_gso_batch_arrives_as_the_same_separate_datagrams() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        batch = [bytes([n]) * 1200 for n in range(5)] + [b"\x09" * 300]
        data = memoryview(b"".join(batch))
        assert send_segmented(sender, data, 1200, receiver.getsockname(), UdpGso(True)), (
            "GSO refused"
        )
        received = [receiver.recv(2048) for _ in batch]
        assert received == batch
    finally:
        receiver.close()
        sender.close()

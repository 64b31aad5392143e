"""``streamer.rtp_forwarder``: the per-viewer RTP path that replaces aiortc's sender loop.

The end-to-end guards (byte-identical frames, stalled and late viewers, browsers, FFmpeg,
co-broadcast) run on it by default; these tests cover what it must do on its own: answer
NACKs, feed aiortc's sender reports, keep a backed-up viewer bounded, and leave aiortc's own
loop selectable.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from aiortc import RTCRtpSender
from aiortc import sdp as aiortc_sdp

import streamer.rtp_forwarder as rtp_forwarder
from streamer import MediaConfig, Streamer
from streamer.config import FAST_FORWARDING_ENV
from streamer.rtp_forwarder import check_sender_internals, forwarder_of, ntp_time, send_segmented
from tests.media.peers import Exchange, Viewer, publish, video_source, wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack

RECEIVER_STATS = "_RTCRtpReceiver__stats"


def watching(streamer: Streamer, live_id: str, user: str, sessions: list[str]) -> Exchange:
    async def exchange(sdp: str) -> str:
        session_id, answer = await streamer.watch(live_id, user, sdp)
        sessions.append(session_id)
        return answer

    return exchange


def video_sender(streamer: Streamer, live_id: str, session_id: str) -> RTCRtpSender:
    session = streamer.local_session(live_id, session_id)
    return next(t.sender for t in session.pc.getTransceivers() if t.kind == "video")


@pytest.fixture
async def streamer() -> AsyncIterator[Streamer]:
    s = Streamer(MediaConfig(publisher_grace_seconds=0.5, viewer_queue_limit=30))
    yield s
    await s.close()


def test_aiortc_sender_internals_are_where_the_forwarder_expects() -> None:
    check_sender_internals()


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


async def test_lost_packets_are_retransmitted_and_the_viewer_decodes_every_frame(
    streamer: Streamer,
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
        dropped = drop_video_packets(viewer, every=7)
        forwarder = forwarder_of(video_sender(streamer, live_id, sessions[0]))
        assert forwarder is not None, "the viewer is not on the fast path"
        await wait_for(lambda: len(viewer.received.counters) >= 90, 20, "90 decoded frames")
        assert len(dropped) >= 10
        assert forwarder.retransmissions >= len(dropped) // 2
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
    streamer = Streamer(MediaConfig(publisher_grace_seconds=0.5))
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
        counters = viewer.received.counters
        assert all(b > a for a, b in itertools.pairwise(counters)), counters
    finally:
        await viewer.close()
        await publisher.close()
        await streamer.close()


def test_the_protector_matches_pylibsrtp() -> None:
    import os

    from pylibsrtp import Policy, Session

    from streamer.rtp_forwarder import _Protector

    key = os.urandom(30)

    def session() -> Session:
        return Session(
            Policy(
                key=key,
                ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
            )
        )

    reference, ours = session(), _Protector(session())
    for seq in range(5):
        packet = bytes([0x80, 96, 0, seq, 0, 0, 0, 1, 0, 0, 0, 2]) + os.urandom(1200)
        assert ours.protect(packet) == reference.protect(packet)
    too_long = bytes([0x80, 96, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2]) + bytes(1400)
    with pytest.raises(ValueError, match="too long"):
        ours.protect(too_long)


def test_a_gso_batch_arrives_as_the_same_separate_datagrams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rtp_forwarder, "UDP_GSO", True)  # a refusal must not leak past the test
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        batch = [bytes([n]) * 1200 for n in range(5)] + [b"\x09" * 300]
        assert send_segmented(sender, batch, 1200, receiver.getsockname()), "GSO refused"
        received = [receiver.recv(2048) for _ in batch]
        assert received == batch
    finally:
        receiver.close()
        sender.close()

"""The forwarding lane (``streamer.forwarding.lane``, ``streamer/forwarding/_fastsend.c``):
one C call sends a frame to every caught-up viewer, each with its own header, keys and
sequence; a viewer whose entry fails is dropped on its own."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiortc import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from streamer.aiortc.sender_state import ExtensionTemplate
from streamer.aiortc.srtp import PROTECT_ADDRESS, context_address, srtp_context, srtp_session_keys
from streamer.forwarding.datagrams import UdpGso, pack_sockaddr
from streamer.forwarding.gcm import GCM_PROTECT_ADDRESS, SRTP_GCM
from streamer.forwarding.lane import ForwardingLane, LaneEntry, lane_available
from streamer.frames import EncodedFrame
from streamer.source import TrackSource
from streamer.stats import ForwardingStats

ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


class _LaneMember:
    def __init__(self) -> None:
        self.failures: list[list[bytes] | None] = []

    def lane_failed(self, leftovers: list[bytes] | None) -> None:
        self.failures.append(leftovers)


@dataclass
class _Viewer:
    entry: LaneEntry
    member: _LaneMember
    receiver: socket.socket
    sender: socket.socket
    session: Any
    """The viewer's sending session: a libsrtp ``Session`` or a ``GcmSession``."""
    unprotect: Any
    history: list[Any]

    def received(self, count: int) -> list[RtpPacket]:
        return [RtpPacket.parse(self.unprotect(self.receiver.recv(2048))) for _ in range(count)]


def _extensions_map() -> HeaderExtensionsMap:
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
            ]
        )
    )
    return extensions_map


@pytest.fixture
def viewers() -> Iterator[list[_Viewer]]:
    """Three viewers' entries, each around a real SRTP session and a real UDP socket pair."""
    if not lane_available():
        pytest.fail("streamer.forwarding._fastsend was not built")
    template = ExtensionTemplate(_extensions_map(), "0")
    made: list[_Viewer] = []
    try:
        for ssrc in (111, 222, 333):
            # 222 is protected by _srtpgcm (AEAD-AES-128-GCM), the others by libsrtp.
            gcm = ssrc == 222
            key = os.urandom(28 if gcm else 30)
            profile = (
                Policy.SRTP_PROFILE_AEAD_AES_128_GCM
                if gcm
                else Policy.SRTP_PROFILE_AES128_CM_SHA1_80
            )
            receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            receiver.bind(("127.0.0.1", 0))
            receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            receiver.settimeout(5)
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.setblocking(False)
            session: Any
            if gcm:
                assert SRTP_GCM is not None, "streamer.forwarding._srtpgcm was not built"
                session = SRTP_GCM.GcmSession(*srtp_session_keys(key[:16], key[16:]))
                protection = (GCM_PROTECT_ADDRESS, session.address)
            else:
                session = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
                protection = (PROTECT_ADDRESS, context_address(srtp_context(session)))
            history: list[Any] = [None] * 128
            entry = LaneEntry(
                sender,
                pack_sockaddr(socket.AF_INET, receiver.getsockname()),
                64,
                (0x90, 96, ssrc),
                template,
                protection,
                ssrc * 1000,
                history,
                65_530,  # wraps around during the keyframe
            )
            inbound = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
            unprotect = Session(inbound).unprotect
            made.append(
                _Viewer(entry, _LaneMember(), receiver, sender, session, unprotect, history)
            )
        yield made
    finally:
        for viewer in made:
            viewer.receiver.close()
            viewer.sender.close()


def test_the_lane_sends_each_viewer_its_own_packets_and_hands_back_what_it_could_not_send(
    viewers: list[_Viewer],
) -> None:
    extensions_map = _extensions_map()
    stats = ForwardingStats()
    lane = ForwardingLane("video/VP8", stats, UdpGso())
    viewers = viewers[:2]
    for viewer in viewers:
        lane.join(viewer.member, viewer.entry, viewer.member)
    frames = [
        EncodedFrame(os.urandom(200_000), 90_000, True),
        EncodedFrame(os.urandom(500), 93_000, False, picture_id=1),
    ]
    for frame in frames:
        lane.send(frame)
    assert stats.frames_forwarded == 4
    for viewer in viewers:
        entry = viewer.entry
        expected = [
            (payload, frame.timestamp, index == len(frame.payloads or []) - 1)
            for frame in frames
            for index, payload in enumerate(frame.payloads or [])
        ]
        packets = [
            RtpPacket.parse(viewer.unprotect(viewer.receiver.recv(2048)), extensions_map)
            for _ in expected
        ]
        ssrc = entry["ssrc"]
        for number, (packet, (payload, timestamp, marker)) in enumerate(
            zip(packets, expected, strict=True)
        ):
            assert packet.payload == payload
            assert packet.marker == marker
            assert packet.sequence_number == (65_530 + number) & 0xFFFF
            assert packet.timestamp == ssrc * 1000 + timestamp
            assert (packet.ssrc, packet.payload_type, packet.extensions.mid) == (ssrc, 96, "0")
            assert packet.extensions.abs_send_time is not None
        assert entry["sequence"] == (65_530 + len(expected)) & 0xFFFF
        counters = entry.take_counters()
        assert counters["packets"] == len(expected)
        assert counters["payload_bytes"] == sum(len(p) for p, _, _ in expected)
        assert counters["segmented_sends"] >= 4
        assert entry.take_counters()["packets"] == 0
        last = viewer.history[(65_530 + len(expected) - 1) % 128]
        assert last[1] is frames[1].payloads
        assert viewer.member.failures == []
    # A viewer whose socket stops taking datagrams leaves with what it still owes; the
    # other one is not affected.
    viewers[0].sender.close()
    frame = EncodedFrame(os.urandom(3000), 96_000, False, picture_id=2)
    lane.send(frame)
    (leftovers,) = viewers[0].member.failures
    assert leftovers is not None
    assert len(leftovers) == len(frame.payloads or [])
    assert len(lane) == 1
    received = viewers[1].received(len(frame.payloads or []))
    assert [packet.payload for packet in received] == frame.payloads
    assert viewers[1].member.failures == []


@pytest.mark.parametrize("breakage", ["no_socket", "no_context", "bad_history", "short_entry"])
def test_a_failing_entry_is_dropped_alone_and_the_others_still_get_the_frame(
    viewers: list[_Viewer], breakage: str, caplog: pytest.LogCaptureFixture
) -> None:
    stats = ForwardingStats()
    lane = ForwardingLane("video/VP8", stats, UdpGso())
    for viewer in viewers:
        lane.join(viewer.member, viewer.entry, viewer.member)
    broken = viewers[1].entry
    if breakage == "no_socket":
        broken["socket"] = None
    elif breakage == "no_context":
        broken["context"] = 0
    elif breakage == "bad_history":
        broken["history"] = "not a list"
    else:
        broken.items.pop()
    frame = EncodedFrame(os.urandom(5000), 90_000, True)
    lane.send(frame)
    assert viewers[1].member.failures == [None]
    assert "it is dropped" in caplog.text
    assert len(lane) == 2
    assert viewers[1].member not in lane
    for viewer in (viewers[0], viewers[2]):
        assert [p.payload for p in viewer.received(len(frame.payloads or []))] == frame.payloads
        assert viewer.member.failures == []
    # The lane goes on for the others.
    second = EncodedFrame(os.urandom(700), 93_000, False, picture_id=1)
    lane.send(second)
    for viewer in (viewers[0], viewers[2]):
        assert [p.payload for p in viewer.received(1)] == second.payloads


class _Sink:
    def __init__(self) -> None:
        self.frames: list[EncodedFrame] = []

    def frame(self, frame: EncodedFrame) -> None:
        self.frames.append(frame)

    def source_closed(self) -> None:
        pass


def test_the_source_keeps_running_when_a_lane_entry_fails(viewers: list[_Viewer]) -> None:
    """The promise "nothing a viewer does reaches the source" by construction: a broken
    entry costs its own viewer the lane, never the source, its sinks or the other viewers."""
    source = TrackSource(
        track_id="alice-audio-0",
        participant="alice",
        kind="audio",
        mime_type="audio/opus",
        stats=ForwardingStats(),
    )
    sink = _Sink()
    source.add_sink(sink)
    tracks = []
    for viewer in viewers:
        track = source.subscribe()
        assert track.join_lane(viewer.entry, viewer.member)
        tracks.append(track)
    assert source.lane_size == 3
    viewers[1].entry["socket"] = None
    first = EncodedFrame(os.urandom(100), 960, True)
    source.push_frame(first)
    assert viewers[1].member.failures == [None]
    assert source.lane_size == 2
    assert sink.frames == [first]
    for viewer in (viewers[0], viewers[2]):
        assert [p.payload for p in viewer.received(1)] == [first.data]
    # The dropped viewer's track is offered the next frame through its queue.
    second = EncodedFrame(os.urandom(100), 1920, True)
    source.push_frame(second)
    assert tracks[1].take_ready() == [(second, second.timestamp)]
    assert sink.frames == [first, second]
    for viewer in (viewers[0], viewers[2]):
        assert [p.payload for p in viewer.received(1)] == [second.data]
    assert not source.closed

"""The forwarding lane (``streamer.forwarding_lane``, ``streamer/_fastsend.c``): one C call
sends a frame to every caught-up viewer, each with its own header, keys and sequence."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from aiortc import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from streamer import forwarding_lane
from streamer.forwarding_lane import ForwardingLane, lane_available, new_entry
from streamer.frames import EncodedFrame
from streamer.sender_internals import ExtensionTemplate
from streamer.srtp_batch import context_address, pack_sockaddr, srtp_context
from streamer.stats import ForwardingStats

ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


class _LaneMember:
    def __init__(self) -> None:
        self.failures: list[list[bytes] | None] = []

    def lane_failed(self, leftovers: list[bytes] | None) -> None:
        self.failures.append(leftovers)


def test_the_lane_sends_each_viewer_its_own_packets_and_hands_back_what_it_could_not_send() -> None:
    if not lane_available():
        pytest.fail("streamer._fastsend was not built")
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
            ]
        )
    )
    template = ExtensionTemplate(extensions_map, "0")
    stats = ForwardingStats()
    lane = ForwardingLane("video/VP8", stats)
    viewers = []
    for ssrc in (111, 222):
        key = os.urandom(30)
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        receiver.settimeout(5)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.setblocking(False)
        session = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        history: list[Any] = [None] * 128
        entry = new_entry(
            sender,
            pack_sockaddr(socket.AF_INET, receiver.getsockname()),
            64,
            (0x90, 96, ssrc),
            template,
            context_address(srtp_context(session)),
            ssrc * 1000,
            history,
            65_530,  # wraps around during the keyframe
        )
        member = _LaneMember()
        lane.join(entry, member)
        unprotect = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND)).unprotect
        viewers.append((entry, member, receiver, sender, session, unprotect, history))
    try:
        frames = [
            EncodedFrame(os.urandom(200_000), 90_000, True),
            EncodedFrame(os.urandom(500), 93_000, False, picture_id=1),
        ]
        for frame in frames:
            lane.send(frame)
        assert stats.frames_forwarded == 4
        for entry, member, receiver, _, _, unprotect, history in viewers:
            expected = [
                (payload, frame.timestamp, index == len(frame.payloads or []) - 1)
                for frame in frames
                for index, payload in enumerate(frame.payloads or [])
            ]
            packets = [
                RtpPacket.parse(unprotect(receiver.recv(2048)), extensions_map) for _ in expected
            ]
            ssrc = entry[forwarding_lane.SSRC]
            for number, (packet, (payload, timestamp, marker)) in enumerate(
                zip(packets, expected, strict=True)
            ):
                assert packet.payload == payload
                assert packet.marker == marker
                assert packet.sequence_number == (65_530 + number) & 0xFFFF
                assert packet.timestamp == ssrc * 1000 + timestamp
                assert (packet.ssrc, packet.payload_type, packet.extensions.mid) == (ssrc, 96, "0")
                assert packet.extensions.abs_send_time is not None
            assert entry[forwarding_lane.SEQUENCE] == (65_530 + len(expected)) & 0xFFFF
            assert entry[forwarding_lane.PACKETS] == len(expected)
            assert entry[forwarding_lane.PAYLOAD_BYTES] == sum(len(p) for p, _, _ in expected)
            assert entry[forwarding_lane.SEGMENTED_SENDS] >= 4
            last = history[(65_530 + len(expected) - 1) % 128]
            assert last[1] is frames[1].payloads
            assert member.failures == []
        # A viewer whose socket stops taking datagrams leaves with what it still owes; the
        # other one is not affected.
        viewers[0][3].close()
        frame = EncodedFrame(os.urandom(3000), 96_000, False, picture_id=2)
        lane.send(frame)
        (leftovers,) = viewers[0][1].failures
        assert leftovers is not None
        assert len(leftovers) == len(frame.payloads or [])
        assert len(lane) == 1
        second_unprotect, second_receiver = viewers[1][5], viewers[1][2]
        received = [second_unprotect(second_receiver.recv(2048)) for _ in frame.payloads or []]
        assert [RtpPacket.parse(data).payload for data in received] == frame.payloads
        assert viewers[1][1].failures == []
    finally:
        for _, _, receiver, sender, _, _, _ in viewers:
            receiver.close()
            sender.close()

"""The forwarding lane on one shared socket (``--udp-port``): ``_fastsend.send_lane`` packs
every viewer's datagrams of a frame into one buffer and sends them with ``sendmmsg``, one
message per viewer and GSO batch. Each viewer still gets exactly its own packets, in order,
and a viewer the kernel refuses leaves the lane alone, owing its datagrams."""

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
from streamer.aiortc.srtp import PROTECT_ADDRESS, context_address, srtp_context
from streamer.forwarding.datagrams import UdpGso, pack_sockaddr
from streamer.forwarding.lane import ForwardingLane, LaneEntry, lane_available
from streamer.frames import EncodedFrame
from streamer.stats import ForwardingStats

EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
    RTCRtpHeaderExtensionParameters(
        id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    ),
]


class _Member:
    def __init__(self) -> None:
        self.failures: list[list[bytes] | None] = []

    def lane_failed(self, leftovers: list[bytes] | None) -> None:
        self.failures.append(leftovers)


@dataclass
class _Viewer:
    entry: LaneEntry
    member: _Member
    receiver: socket.socket
    session: Session
    unprotect: Any

    def received(self, count: int, extensions_map: HeaderExtensionsMap) -> list[RtpPacket]:
        return [
            RtpPacket.parse(self.unprotect(self.receiver.recv(2048)), extensions_map)
            for _ in range(count)
        ]


def _extensions_map() -> HeaderExtensionsMap:
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(RTCRtpParameters(headerExtensions=EXTENSIONS))
    return extensions_map


@pytest.fixture
def shared_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def receivers() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    try:
        yield made
    finally:
        for sock in made:
            sock.close()


def _viewers(count: int, sender: socket.socket, receivers: list[socket.socket]) -> list[_Viewer]:
    """``count`` viewers' entries on the one ``sender`` socket, each with its own SRTP
    session and its own receiving socket."""
    if not lane_available():
        pytest.fail("streamer.forwarding._fastsend was not built")
    template = ExtensionTemplate(_extensions_map(), "0")
    viewers: list[_Viewer] = []
    for index in range(count):
        key = os.urandom(30)
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receivers.append(receiver)
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        receiver.settimeout(5)
        session = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        entry = LaneEntry(
            sender,
            pack_sockaddr(socket.AF_INET, receiver.getsockname()),
            64,
            (0x90, 96, 1000 + index),
            template,
            (PROTECT_ADDRESS, context_address(srtp_context(session))),
            index * 7919,
            [None] * 128,
            (65_500 + index) & 0xFFFF,
        )
        unprotect = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND)).unprotect
        viewers.append(_Viewer(entry, _Member(), receiver, session, unprotect))
    return viewers


def test_viewers_on_one_socket_each_get_their_own_packets_in_order(
    shared_socket: socket.socket, receivers: list[socket.socket]
) -> None:
    """80 viewers of a 60 KB keyframe (4.8 MB of datagrams: more than the batch buffer holds,
    so the batch is sent part way through a viewer), then a small frame."""
    viewers = _viewers(80, shared_socket, receivers)
    stats = ForwardingStats()
    lane = ForwardingLane("video/VP8", stats, UdpGso())
    for viewer in viewers:
        lane.join(viewer.member, viewer.entry, viewer.member)
    frames = [
        EncodedFrame(os.urandom(60_000), 90_000, True),
        EncodedFrame(os.urandom(700), 93_000, False, picture_id=1),
    ]
    extensions_map = _extensions_map()
    for frame in frames:
        lane.send(frame)
        for index, viewer in enumerate(viewers):
            payloads = frame.payloads or []
            packets = viewer.received(len(payloads), extensions_map)
            assert [packet.payload for packet in packets] == payloads
            assert [packet.marker for packet in packets] == [
                i == len(payloads) - 1 for i in range(len(payloads))
            ]
            assert {packet.ssrc for packet in packets} == {1000 + index}
            assert {packet.timestamp for packet in packets} == {index * 7919 + frame.timestamp}
    sent = sum(len(frame.payloads or []) for frame in frames)
    for index, viewer in enumerate(viewers):
        entry = viewer.entry
        assert viewer.member.failures == []
        assert entry["sequence"] == (65_500 + index + sent) & 0xFFFF
        counters = entry.take_counters()
        assert counters["packets"] == sent
        assert counters["segmented_sends"] >= 1
    assert stats.frames_forwarded == 80 * len(frames)
    assert len(lane) == 80


def test_a_viewer_the_kernel_refuses_leaves_alone_owing_its_datagrams(
    shared_socket: socket.socket, receivers: list[socket.socket]
) -> None:
    viewers = _viewers(3, shared_socket, receivers)
    lane = ForwardingLane("video/VP8", ForwardingStats(), UdpGso())
    for viewer in viewers:
        lane.join(viewer.member, viewer.entry, viewer.member)
    # An IPv6 destination on the IPv4 socket: sendmmsg refuses that one message.
    port = viewers[1].receiver.getsockname()[1]
    viewers[1].entry["address"] = pack_sockaddr(socket.AF_INET6, ("::1", port))
    frame = EncodedFrame(os.urandom(5_000), 90_000, True)
    lane.send(frame)
    payloads = frame.payloads or []
    (owed,) = viewers[1].member.failures
    assert owed is not None
    assert [RtpPacket.parse(viewers[1].unprotect(data)).payload for data in owed] == payloads
    assert len(lane) == 2
    extensions_map = _extensions_map()
    for viewer in (viewers[0], viewers[2]):
        assert viewer.member.failures == []
        received = viewer.received(len(payloads), extensions_map)
        assert [packet.payload for packet in received] == payloads
    second = EncodedFrame(os.urandom(300), 93_000, False, picture_id=1)
    lane.send(second)
    for viewer in (viewers[0], viewers[2]):
        assert [p.payload for p in viewer.received(1, extensions_map)] == second.payloads

"""Sender reports from one timer per worker (``streamer.forwarding.wheel``): the SR and SDES
the forwarder sends are the bytes aiortc's own RTCP loop would build from the same state,
each forwarded sender is ticked by the one wheel instead of a task that wakes up per sender,
and a member whose periodic work fails leaves the wheel alone."""

from __future__ import annotations

import asyncio
import time

from aiortc import RTCPeerConnection
from aiortc.rtp import (
    RtcpPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from streamer import MediaConfig, Streamer
from streamer.aiortc.sender_state import SenderHandle
from streamer.forwarding import wheel as sender_wheel
from streamer.forwarding.forwarder import forwarder_of
from streamer.forwarding.wheel import SenderWheel
from tests.media.peers import Viewer, publish, video_source, wait_for, watching
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack

SENDER = "_RTCRtpSender__"


async def test_a_sender_report_is_the_one_aiortc_would_send() -> None:
    pc = RTCPeerConnection()
    sender = pc.addTransceiver("video", direction="sendonly").sender
    await pc.close()
    state = {"ntp_timestamp": 0xE1A2B3C4D5E6F708, "rtp_timestamp": 0xDEADBEEF}
    handle = SenderHandle(sender)
    (alone,) = RtcpPacket.parse(handle.sender_report())  # no CNAME yet: SR alone
    assert isinstance(alone, RtcpSrPacket)
    assert alone.ssrc == sender._ssrc
    setattr(sender, SENDER + "cname", "{a0b1c2d3-cname}")  # send() sets it
    handle.report(state["ntp_timestamp"], state["rtp_timestamp"], 2**32 + 7, 123_456)
    before = time.time()
    ours = handle.sender_report()
    cname = getattr(sender, SENDER + "cname")
    assert cname
    expected = bytes(
        RtcpSrPacket(
            ssrc=sender._ssrc,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=state["ntp_timestamp"],
                rtp_timestamp=state["rtp_timestamp"],
                packet_count=7,
                octet_count=123_456,
            ),
        )
    ) + bytes(
        RtcpSdesPacket(
            chunks=[RtcpSourceInfo(ssrc=sender._ssrc, items=[(1, cname.encode("utf8"))])]
        )
    )
    assert ours == expected
    sr, sdes = RtcpPacket.parse(ours)
    assert isinstance(sr, RtcpSrPacket)
    assert isinstance(sdes, RtcpSdesPacket)
    # What aiortc's receiver-report handling computes the round-trip time from.
    assert getattr(sender, SENDER + "lsr") == (state["ntp_timestamp"] >> 16) & 0xFFFFFFFF
    assert getattr(sender, SENDER + "lsr_time") >= before


class _Member:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.ticks = 0

    def tick(self, now: float) -> None:
        self.ticks += 1
        if self.fail:
            raise RuntimeError("broken member")


async def test_a_failing_member_leaves_the_wheel_and_the_others_are_still_ticked() -> None:
    wheel = SenderWheel.of(asyncio.get_running_loop())
    assert SenderWheel.of(asyncio.get_running_loop()) is wheel
    good, bad = _Member(), _Member(fail=True)
    wheel.add(good)
    wheel.add(bad)
    await wait_for(lambda: good.ticks >= 3, 5, "three ticks")
    assert bad.ticks == 1
    assert len(wheel) == 1
    wheel.discard(good)
    ticks = good.ticks
    await asyncio.sleep(3 * sender_wheel.TICK)
    assert good.ticks == ticks


async def test_forwarded_senders_report_from_the_wheel_and_leave_it_when_they_stop() -> None:
    streamer = Streamer(MediaConfig(publisher_grace_seconds=0.5, ice_addresses=("127.0.0.1",)))
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
        session = streamer.local_session(live_id, sessions[0])
        senders = [t.sender for t in session.pc.getTransceivers()]
        forwarders = [forwarder_of(sender) for sender in senders]
        assert all(forwarder is not None for forwarder in forwarders)
        wheel = SenderWheel.of(asyncio.get_running_loop())
        await wait_for(lambda: set(forwarders) <= set(wheel._members), 10, "senders started")
        for sender in senders:
            # aiortc's RTCP loop is not what runs: ours stands in for it.
            assert getattr(sender._run_rtcp, "__self__", None) in forwarders
        received: list[int] = []

        def reported() -> bool:
            received[:] = [
                stat.packetsSent
                for transceiver in viewer.pc.getTransceivers()
                for stat in transceiver.receiver._RTCRtpReceiver__stats.values()  # type: ignore[attr-defined]
                if stat.type == "remote-outbound-rtp" and stat.packetsSent > 0
            ]
            return len(received) == 2

        await wait_for(reported, 15, "a sender report on both tracks")
        await session.pc.close()
        assert not set(forwarders) & set(wheel._members)
    finally:
        await viewer.close()
        await publisher.close()
        await streamer.close()

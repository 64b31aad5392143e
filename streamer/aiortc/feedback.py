"""What a viewer's RTCP says about its link, read off an aiortc sender.

aiortc's ``RTCRtpSender._handle_rtcp_packet`` keeps a receiver report's fraction lost only
in its stats and answers NACKs itself; we wrap that method per sender (the DTLS transport's
RTP router calls it by name) and hand each report about this sender's SSRC, and the count
of packets each NACK asks for, to callbacks as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_RTPFB_NACK, AnyRtcpPacket, RtcpRrPacket, RtcpRtpfbPacket, RtcpSrPacket

log = logging.getLogger("directlive.streamer")

ReportCallback = Callable[[float, int], None]
"""Called with a report's fraction lost (0..1) and the packets the sender has sent so far."""
NackCallback = Callable[[list[int]], None]
"""Called with the sequence numbers one NACK reports lost."""


def observe_loss(sender: RTCRtpSender, on_report: ReportCallback, on_nack: NackCallback) -> None:
    """Call ``on_report`` for every receiver report block about ``sender``'s stream, and
    ``on_nack`` for every NACK about it. (A report's fraction lost counts retransmitted
    packets as received, so with NACK it says little; what NACKs ask for tells more.)"""
    handle: Any = sender
    original = handle._handle_rtcp_packet

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        await original(packet)
        try:
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                for report in packet.reports:
                    if report.ssrc == handle._ssrc:
                        sent = int(handle._RTCRtpSender__packet_count)
                        on_report(report.fraction_lost / 256, sent)
            elif (
                isinstance(packet, RtcpRtpfbPacket)
                and packet.fmt == RTCP_RTPFB_NACK
                and packet.media_ssrc == handle._ssrc
            ):
                on_nack(list(packet.lost))
        except Exception:
            log.exception("a layer selector failed on RTCP feedback")

    handle._handle_rtcp_packet = handle_rtcp_packet

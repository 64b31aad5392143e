"""What a viewer's receiver reports say about its link, read off an aiortc sender.

aiortc's ``RTCRtpSender._handle_rtcp_packet`` keeps a report's fraction lost only in its
stats; we wrap that method per sender (the DTLS transport's RTP router calls it by name)
and hand each report about this sender's SSRC to a callback as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.rtp import AnyRtcpPacket, RtcpRrPacket, RtcpSrPacket

log = logging.getLogger("directlive.streamer")

LossCallback = Callable[[float], None]
"""Called with a report's fraction lost (0..1)."""


def observe_loss(sender: RTCRtpSender, on_loss: LossCallback) -> None:
    """Call ``on_loss`` for every receiver report block about ``sender``'s stream."""
    handle: Any = sender
    original = handle._handle_rtcp_packet

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        await original(packet)
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == handle._ssrc:
                    try:
                        on_loss(report.fraction_lost / 256)
                    except Exception:
                        log.exception("a layer selector failed on a receiver report")

    handle._handle_rtcp_packet = handle_rtcp_packet

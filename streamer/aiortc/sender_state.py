"""Typed handles on the private RTP state of an aiortc ``RTCRtpSender`` (what
``streamer.forwarding.RtpForwarder`` takes over and keeps up to date), and the RTP header
extension block it renders per frame."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCRtpCodecParameters, RTCRtpSender
from aiortc.rtp import RTCP_SDES, RTCP_SR, HeaderExtensions, HeaderExtensionsMap, RtcpByePacket

from directlive.errors import AiortcInternalsChanged

_SENDER = "_RTCRtpSender__"
RtpRunner = Callable[[RTCRtpCodecParameters], Coroutine[Any, Any, None]]
RtcpRunner = Callable[[], Coroutine[Any, Any, None]]
Retransmitter = Callable[[int], Coroutine[Any, Any, None]]
_SENDER_REPORT = struct.Struct("!BBHLQLLL")
"""An RTCP SR without report blocks: header, SSRC, NTP time, RTP time, packets, octets."""


class SenderHandle:
    """One sender's private RTP state: its task hooks, SSRCs, header extensions, and the
    counters its RTCP loop puts in sender reports."""

    __slots__ = ("sender",)

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender: Any = sender

    def take_over(
        self, run: RtpRunner, retransmit: Retransmitter, on_keyframe_request: Callable[[], None]
    ) -> None:
        """Run ``run`` instead of aiortc's RTP loop and ``retransmit`` on NACK; PLI/FIR (which
        ``_handle_rtcp_packet`` turns into ``_send_keyframe()``) call ``on_keyframe_request``."""
        sender = self.sender
        sender._run_rtp = run
        sender._retransmit = retransmit
        sender._send_keyframe = on_keyframe_request

    def take_over_reports(self, run: RtcpRunner) -> None:
        """Run ``run`` instead of aiortc's RTCP loop (a task per sender that wakes up about
        once a second to send a sender report, and sends BYE when cancelled)."""
        self.sender._run_rtcp = run

    def rtcp_started(self) -> None:
        getattr(self.sender, _SENDER + "rtcp_started").set()

    def rtcp_exited(self) -> None:
        getattr(self.sender, _SENDER + "rtcp_exited").set()

    def sender_report(self) -> bytes:
        """The compound RTCP packet aiortc's loop would send now (SR from the counters
        ``report`` keeps, then SDES with the CNAME), unprotected; like aiortc, remembers
        when, for the round-trip time of the receiver reports that answer it."""
        sender = self.sender
        ntp: int = getattr(sender, _SENDER + "ntp_timestamp")
        packet = _SENDER_REPORT.pack(
            0x80,
            RTCP_SR,
            6,
            sender._ssrc,
            ntp,
            getattr(sender, _SENDER + "rtp_timestamp"),
            getattr(sender, _SENDER + "packet_count") & 0xFFFFFFFF,
            getattr(sender, _SENDER + "octet_count") & 0xFFFFFFFF,
        )
        setattr(sender, _SENDER + "lsr", (ntp >> 16) & 0xFFFFFFFF)
        setattr(sender, _SENDER + "lsr_time", time.time())
        cname: str | None = getattr(sender, _SENDER + "cname")
        if cname is None:
            return packet
        text = cname.encode("utf8")
        chunk = struct.pack("!LBB", sender._ssrc, 1, len(text)) + text + b"\x00\x00"
        chunk += b"\x00" * (-len(chunk) % 4)
        return packet + struct.pack("!BBH", 0x81, RTCP_SDES, len(chunk) // 4) + chunk

    async def send_bye(self) -> None:
        """RTCP BYE, as aiortc's loop sends when it stops."""
        await self.sender._send_rtcp([RtcpByePacket(sources=[self.sender._ssrc])])

    def runner_owner(self) -> object:
        """The object whose bound method runs the sender's RTP task (ours or aiortc's)."""
        return getattr(self.sender._run_rtp, "__self__", None)

    def rtp_started(self) -> None:
        getattr(self.sender, _SENDER + "rtp_started").set()

    def rtp_exited(self) -> None:
        getattr(self.sender, _SENDER + "rtp_exited").set()

    @property
    def enabled(self) -> bool:
        return bool(self.sender._enabled)

    @property
    def ssrc(self) -> int:
        return int(self.sender._ssrc)

    @property
    def rtx_ssrc(self) -> int:
        return int(self.sender._rtx_ssrc)

    @property
    def header_extensions_map(self) -> HeaderExtensionsMap:
        extensions: HeaderExtensionsMap = getattr(
            self.sender, _SENDER + "rtp_header_extensions_map"
        )
        return extensions

    @property
    def mid(self) -> str | None:
        mid: str | None = getattr(self.sender, _SENDER + "mid")
        return mid

    def next_rtx(self) -> tuple[int, int] | None:
        """(RTX payload type, its next sequence number, now taken), or None without RTX."""
        sender = self.sender
        payload_type = getattr(sender, _SENDER + "rtx_payload_type")
        if payload_type is None:
            return None
        sequence_number: int = getattr(sender, _SENDER + "rtx_sequence_number")
        setattr(sender, _SENDER + "rtx_sequence_number", (sequence_number + 1) & 0xFFFF)
        return int(payload_type), sequence_number

    def report(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        """What sender reports carry: the last packet's NTP and RTP times, the totals."""
        sender = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = rtp_timestamp
        sender._RTCRtpSender__packet_count = packets
        sender._RTCRtpSender__octet_count = octets


def name_stream(sender: RTCRtpSender, stream_id: str, track_id: str) -> None:
    """The ``a=msid:<stream> <track>`` the sender announces (aiortc takes them from the track)."""
    handle: Any = sender
    handle._stream_id = stream_id
    handle._track_id = track_id


class ExtensionTemplate:
    """This sender's RTP header extension block, with a slot for abs-send-time."""

    def __init__(self, extensions_map: HeaderExtensionsMap, mid: str | None) -> None:
        low = self._block(extensions_map, mid, 0)
        high = self._block(extensions_map, mid, 0xFFFFFF)
        self.size = len(low)
        self.has_abs_send_time = low != high
        if not self.has_abs_send_time:
            self.prefix, self.suffix = low, b""
            return
        end = len(low) - next(i for i in range(len(low)) if low[-1 - i] != high[-1 - i])
        start = end - 3
        if len(low) != len(high) or low[:start] != high[:start] or low[end:] != high[end:]:
            raise AiortcInternalsChanged("abs-send-time is not a 3-byte field")
        self.prefix, self.suffix = low[:start], low[end:]

    @staticmethod
    def _block(extensions_map: HeaderExtensionsMap, mid: str | None, abs_send_time: int) -> bytes:
        profile, value = extensions_map.set(HeaderExtensions(mid=mid, abs_send_time=abs_send_time))
        if not value:
            return b""
        return struct.pack("!HH", profile, len(value) >> 2) + value

    def render(self, ntp: int) -> bytes:
        if not self.has_abs_send_time:
            return self.prefix
        return self.prefix + ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big") + self.suffix


def redirect_keyframe_requests(
    sender: RTCRtpSender, on_keyframe_request: Callable[[], None]
) -> None:
    """PLI/FIR from the remote side call ``on_keyframe_request`` instead of setting the flag
    only aiortc's own encoders read (a client sending pre-encoded media)."""
    handle: Any = sender
    handle._send_keyframe = on_keyframe_request

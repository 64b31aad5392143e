"""The aiortc ``RTCRtpSender`` internals ``RtpForwarder`` relies on, checked loudly, and the
RTP header extension block it renders per frame."""

from __future__ import annotations

import inspect
import struct
from functools import cache

from aiortc import RTCDtlsTransport, RTCRtpSender
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap

from streamer.tap import ReceiverInternalsChanged


@cache
def check_sender_internals() -> None:
    """Raise ``ReceiverInternalsChanged`` unless aiortc's sender still works as we expect."""
    send = inspect.getsource(RTCRtpSender.send)
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    report = inspect.getsource(RTCRtpSender._run_rtcp)
    stop = inspect.getsource(RTCRtpSender.stop)
    dtls_send = inspect.getsource(RTCDtlsTransport._send_rtp)
    expectations = {
        "send() starts self._run_rtp(codec)": "self._run_rtp(parameters.codecs[0])" in send,
        "send() configures the header extensions": "self.__rtp_header_extensions_map.configure"
        in send,
        "NACK calls self._retransmit(seq)": "await self._retransmit(seq)" in rtcp,
        "PLI/FIR call self._send_keyframe()": "self._send_keyframe()" in rtcp,
        "sender reports read the counters": all(
            f"self.__{name}" in report
            for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count")
        ),
        "stop() waits for the RTP events": "self.__rtp_exited.wait()" in stop
        and "self.__rtp_started.wait()" in stop,
        "DTLS protects with _tx_srtp": "self._tx_srtp.protect(data)" in dtls_send
        and "await self.transport._send(data)" in dtls_send,
    }
    broken = [name for name, ok in expectations.items() if not ok]
    if broken:
        raise ReceiverInternalsChanged("aiortc sender internals moved: " + ", ".join(broken))


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
            raise ReceiverInternalsChanged("abs-send-time is not a 3-byte field")
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

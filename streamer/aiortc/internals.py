"""Every private aiortc, aioice and pylibsrtp hook the media plane relies on, checked at once.

aiortc, aioice and pylibsrtp are pinned exactly (``pyproject.toml``); ``check_internals``
runs when a ``Streamer`` or a media worker starts and in ``tests/test_architecture.py``, so
an upgrade that moves one of these fails loudly instead of forwarding nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache

import aioice.ice
from aiortc import (
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc import rtcrtpreceiver as receiver_module
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from directlive.errors import AiortcInternalsChanged
from streamer.aiortc.srtp import srtp_broken


def _source(function: Callable[..., object]) -> str:
    """One function's source (functions only: a class's would parse its whole module)."""
    return inspect.getsource(function)


def _expectations() -> dict[str, bool]:
    receiver_rtp = _source(RTCRtpReceiver._handle_rtp_packet)
    receiver_init = _source(RTCRtpReceiver.__init__)
    send = _source(RTCRtpSender.send)
    sender_init = _source(RTCRtpSender.__init__)
    rtcp = _source(RTCRtpSender._handle_rtcp_packet)
    report = _source(RTCRtpSender._run_rtcp)
    stop = _source(RTCRtpSender.stop)
    next_frame = _source(RTCRtpSender._next_encoded_frame)
    retransmit = _source(RTCRtpSender._retransmit)
    dtls = _source(RTCDtlsTransport.__init__)
    connection = _source(aioice.ice.Connection.__init__) + _source(aioice.ice.Connection.connect)
    gather = _source(aioice.ice.Connection.gather_candidates)
    peer = _source(RTCPeerConnection.__init__)
    peer_gather = getattr(RTCPeerConnection, "_RTCPeerConnection__gather", None)
    return {
        # streamer.aiortc.tap
        "frames are queued for the decoder": "self.__decoder_queue.put((codec, encoded_frame))"
        in receiver_rtp,
        "the decoder thread reads that queue": "self.__decoder_queue"
        in _source(RTCRtpReceiver.receive),
        "the worker takes (codec, frame) tasks": hasattr(receiver_module, "decoder_worker"),
        "a receiver knows its remote track": "self._track" in receiver_init,
        "a receiver sends PLI": callable(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)),
        # streamer.aiortc.packer
        "the sender packs non-av frames with its encoder": "self.__encoder.pack(" in next_frame,
        "VP8 packetizes": callable(getattr(Vp8Encoder, "_packetize", None)),
        "H.264 packetizes": callable(getattr(H264Encoder, "_packetize", None))
        and callable(getattr(H264Encoder, "_split_bitstream", None)),
        # streamer.aiortc.sender_state
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
        "send() starts self._run_rtcp(), stop() waits for its events": "self._run_rtcp()" in send
        and "self.__rtcp_exited.wait()" in stop
        and "self.__rtcp_started.wait()" in stop,
        "sender reports remember when (lsr) and name the CNAME": all(
            line in report
            for line in ("self.__lsr =", "self.__lsr_time =", "self.__cname", "RtcpByePacket(")
        )
        and callable(getattr(RTCRtpSender, "_send_rtcp", None)),
        "the sender has ssrc, RTX and msid fields": all(
            name in sender_init for name in ("self._ssrc", "self._rtx_ssrc", "self._stream_id")
        )
        and "self._track_id =" in _source(RTCRtpSender.replaceTrack)
        and all(
            name in retransmit for name in ("self.__rtx_payload_type", "self.__rtx_sequence_number")
        ),
        "a sender can be disabled": "self._enabled" in sender_init,
        # streamer.aiortc.feedback
        "the RTP router hands RTCP to _handle_rtcp_packet": "recipient._handle_rtcp_packet("
        in _source(RTCDtlsTransport._handle_rtcp_data)
        and "report.fraction_lost" in rtcp,
        # streamer.aiortc.transport_state
        "DTLS protects with _tx_srtp": "self._tx_srtp.protect(data)"
        in _source(RTCDtlsTransport._send_rtp)
        and "await self.transport._send(data)" in _source(RTCDtlsTransport._send_rtp),
        "DTLS counts what it sends": "self.__tx_packets" in dtls and "self.__tx_bytes" in dtls,
        "DTLS has a state": "self._state" in dtls,
        "ICE transports send and receive through _send/_recv": all(
            line in _source(RTCIceTransport.__init__)
            for line in ("self._recv = self._connection.recv", "self._send = self._connection.send")
        ),
        "the gatherer holds an aioice connection": "self._connection"
        in _source(RTCIceGatherer.__init__),
        "aioice keeps nominated pairs": "self._nominated" in connection,
        # streamer.aiortc.interop
        "aioice checks consent in a task": "self._query_consent_task" in connection
        and callable(getattr(aioice.ice.Connection, "query_consent", None)),
        # streamer.aiortc.ice
        "aioice gathers host candidates once": all(
            name in gather
            for name in (
                "self._local_candidates_start",
                "self._local_candidates_end",
                "self._local_candidates +=",
                "get_host_addresses(",
                "self.get_component_candidates(",
            )
        ),
        "the peer connection gathers its ICE transports": callable(peer_gather)
        and "self.__iceTransports" in peer
        and "self.__iceTransports" in _source(peer_gather),
        # streamer.aiortc.codec_choice
        "a transceiver's codecs are _codecs": "self._codecs" in _source(RTCRtpTransceiver.__init__),
    }


@cache
def check_internals() -> None:
    """Raise ``AiortcInternalsChanged`` unless every private hook we use is where we expect."""
    try:
        expectations = _expectations()
    except (AttributeError, TypeError, OSError) as exc:
        raise AiortcInternalsChanged(f"aiortc internals moved: {exc!r}") from exc
    broken = [name for name, ok in expectations.items() if not ok]
    srtp = srtp_broken()
    if srtp:
        broken.append(srtp)
    if broken:
        raise AiortcInternalsChanged("aiortc internals moved: " + ", ".join(broken))

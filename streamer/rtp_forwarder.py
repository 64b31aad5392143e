"""Per-viewer RTP forwarding without aiortc's per-packet coroutines.

aiortc's ``RTCRtpSender._run_rtp`` costs a task wake-up per frame and, per packet, an
``RtpPacket`` object, two ``datetime`` NTP computations, header-extension serialization and
four awaited coroutine layers down to the socket. For a forwarding SFU that is most of the
server's CPU. ``RtpForwarder`` replaces only that loop, per sender, and keeps aiortc for
everything else (ICE, DTLS, SRTP keys, RTCP reception, SR/SDES/BYE):

- the sender's ``_run_rtp`` becomes a coroutine that attaches to the ``ViewerTrack`` and
  waits; the track then calls ``_drain`` synchronously whenever it queues a frame, so one
  published frame goes out to every viewer in one pass of ``TrackSource.push``;
- per frame, the header extensions (MID, abs-send-time, as negotiated) are computed once;
  per packet, the 12-byte header is packed from this viewer's template, protected with the
  DTLS transport's SRTP session and written straight to the nominated ICE pair's datagram
  transport (no coroutine);
- the sender's packet/octet counters and last RTP/NTP timestamps are kept up to date, so
  aiortc's own RTCP loop sends correct sender reports (browsers need them for A/V sync);
- the last 128 packets are kept for NACK, answered with RTX when negotiated (the sender's
  ``_retransmit``), and PLI/FIR still reach ``ViewerTrack.request_keyframe``;
- when the socket's write buffer backs up, frames stay in the track's bounded queue, which
  drops to the next keyframe as before.

It relies on private aiortc attributes; aiortc is pinned and ``check_sender_internals``
fails loudly if an upgrade moves them.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import os
import socket
import struct
import sys
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCDtlsTransport, RTCRtpCodecParameters, RTCRtpSender
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTP_HISTORY_SIZE,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtpPacket,
    wrap_rtx,
)
from aiortc.utils import random32

from streamer.packer import packetize
from streamer.tap import ReceiverInternalsChanged
from streamer.viewer_track import ViewerTrack

log = logging.getLogger("directlive.streamer")

_SENDER = "_RTCRtpSender__"
_DTLS = "_RTCDtlsTransport__"
_RTP_HEADER = struct.Struct("!BBHII")
_NTP_EPOCH_OFFSET = 2_208_988_800
"""Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)."""
WRITE_BUFFER_LIMIT = 256 * 1024
"""Bytes the socket's write buffer may hold before this viewer counts as slow."""
UDP_GSO = sys.platform.startswith("linux") and os.environ.get("DIRECTLIVE_UDP_GSO") != "0"
"""Send a frame's equal-sized packets in one ``sendmsg`` with UDP_SEGMENT (Linux >= 4.18):
the kernel cuts it into the same datagrams, at a fraction of the per-packet syscall cost.
Off with ``DIRECTLIVE_UDP_GSO=0``; turned off process-wide the first time the kernel
refuses it."""
_UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
_GSO_MAX_SEGMENTS = 64
_GSO_MAX_BYTES = 65_000
_GSO_UNSUPPORTED = {errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO}


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


class _Protector:
    """``pylibsrtp.Session.protect`` without its per-call allocations: the same libsrtp
    call on the session's own buffer (about half the cost per packet). Falls back to
    ``protect`` for anything unusual (a packet too long, an error to raise)."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session
        self.protect: Callable[[bytes], bytes] = session.protect
        try:
            from pylibsrtp._binding import ffi, lib

            srtp = session._srtp[0]
            cdata = session._cdata
            buffer = session._buffer
        except (ImportError, AttributeError):
            return
        length = ffi.new("int *")
        limit = len(buffer) - pylibsrtp.SRTP_MAX_TRAILER_LEN
        srtp_protect = lib.srtp_protect
        fallback = session.protect

        def protect(packet: bytes) -> bytes:
            size = len(packet)
            if size > limit:
                return fallback(packet)
            buffer[0:size] = packet
            length[0] = size
            if srtp_protect(srtp, cdata, length) != 0:
                raise pylibsrtp.Error("srtp_protect failed")
            data: bytes = buffer[0 : length[0]]
            return data

        self.protect = protect


def ntp_time(now: float) -> int:
    """64-bit NTP timestamp of a Unix time (what ``aiortc.clock.current_ntp_time`` returns)."""
    seconds = int(now)
    return ((seconds + _NTP_EPOCH_OFFSET) << 32) | int((now - seconds) * 4294967296.0)


class _ExtensionTemplate:
    """This sender's RTP header extension block, with a slot for abs-send-time."""

    def __init__(self, extensions_map: HeaderExtensionsMap, mid: str | None) -> None:
        low = self._block(extensions_map, mid, 0)
        high = self._block(extensions_map, mid, 0xFFFFFF)
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


class RtpForwarder:
    """Sends one ``ViewerTrack`` through one aiortc sender's DTLS transport."""

    def __init__(
        self,
        sender: RTCRtpSender,
        track: ViewerTrack,
        mime_type: str,
        on_keyframe_request: Callable[[], None],
    ) -> None:
        check_sender_internals()
        self._sender: Any = sender
        self._track = track
        self._mime_type = mime_type
        self._done: asyncio.Future[None] | None = None
        self._history: list[bytes | None] = [None] * RTP_HISTORY_SIZE
        self._sequence_number = random_sequence_number()
        self._timestamp_origin = random32()
        self._first_byte = 0x80
        self._payload_type = 0
        self._ssrc = 0
        self._extensions: _ExtensionTemplate | None = None
        self._extensions_map = HeaderExtensionsMap()
        self._pair: Any = None
        self._socket_transport: Any = None
        """The nominated pair's asyncio datagram transport, when we may write to it."""
        self._socket: socket.socket | None = None
        """Its socket, for UDP GSO writes while the transport's own buffer is empty."""
        self._remote_addr: tuple[str, int] | None = None
        self._fallback: set[asyncio.Future[None]] = set()
        self._protector: _Protector | None = None
        self.packets_sent = 0
        self.octets_sent = 0
        self.retransmissions = 0
        self.segmented_sends = 0
        sender._run_rtp = self._run  # type: ignore[method-assign]
        sender._retransmit = self._retransmit  # type: ignore[method-assign]
        # RTCRtpSender._handle_rtcp_packet calls self._send_keyframe() on PLI and FIR.
        sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]

    # ---- the sender's RTP task -------------------------------------------------------

    async def _run(self, codec: RTCRtpCodecParameters) -> None:
        """Stands in for ``RTCRtpSender._run_rtp``: sending happens in ``_drain``."""
        sender = self._sender
        getattr(sender, _SENDER + "rtp_started").set()
        self._done = asyncio.get_running_loop().create_future()
        try:
            self._payload_type = codec.payloadType or 0
            self._ssrc = sender._ssrc
            self._extensions_map = getattr(sender, _SENDER + "rtp_header_extensions_map")
            self._extensions = _ExtensionTemplate(
                self._extensions_map, getattr(sender, _SENDER + "mid")
            )
            self._first_byte = 0x90 if self._extensions.prefix else 0x80
            self._track.attach(self._drain)
            await self._done
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("RTP forwarder failed")
        finally:
            self._track.detach()
            self._track.stop()
            for task in list(self._fallback):
                task.cancel()
            getattr(sender, _SENDER + "rtp_exited").set()

    def _finish(self) -> None:
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    # ---- sending ------------------------------------------------------------------------

    def _drain(self) -> None:
        """Send everything the track has queued; called synchronously by the track."""
        track = self._track
        if track.readyState != "live":
            self._finish()
            return
        sender = self._sender
        if not sender._enabled:
            track.take_ready()
            return
        dtls: RTCDtlsTransport = sender.transport
        if dtls._state != DtlsState.CONNECTED:
            self._finish()
            return
        try:
            self._locate_socket(dtls)
            socket_transport = self._socket_transport
            if (
                socket_transport is not None
                and socket_transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT
            ):
                return  # a slow viewer: frames wait in the bounded queue
            ready = track.take_ready()
            if not ready:
                return
            self._send_frames(dtls, ready)
        except Exception:
            log.exception("RTP forwarding to a viewer failed")
            self._finish()

    def _send_frames(self, dtls: RTCDtlsTransport, ready: list[tuple[Any, int]]) -> None:
        now = time.time()
        ntp = ntp_time(now)
        assert self._extensions is not None
        extensions = self._extensions.render(ntp)
        protector = self._protector
        if protector is None or protector.session is not dtls._tx_srtp:
            protector = self._protector = _Protector(dtls._tx_srtp)
        protect = protector.protect
        pack = _RTP_HEADER.pack
        history = self._history
        mask = RTP_HISTORY_SIZE - 1
        first_byte, payload_type, ssrc = self._first_byte, self._payload_type, self._ssrc
        seq = self._sequence_number
        packets = octets = wire_bytes = 0
        timestamp = 0
        datagrams: list[bytes] = []
        append = datagrams.append
        for frame, frame_timestamp in ready:
            payloads = packetize(self._mime_type, frame)
            timestamp = (self._timestamp_origin + frame_timestamp) & 0xFFFFFFFF
            last = len(payloads) - 1
            for index, payload in enumerate(payloads):
                marker = 0x80 if index == last else 0
                packet = (
                    pack(first_byte, marker | payload_type, seq, timestamp, ssrc)
                    + extensions
                    + payload
                )
                history[seq & mask] = packet
                data = protect(packet)
                append(data)
                wire_bytes += len(data)
                octets += len(payload)
                seq = (seq + 1) & 0xFFFF
            packets += len(payloads)
        self._sequence_number = seq
        if self._socket_transport is None:
            self._send_later(dtls, datagrams)
        else:
            self._write(datagrams)
        self._count(dtls, packets, octets, wire_bytes, timestamp, ntp)

    def _count(
        self,
        dtls: RTCDtlsTransport,
        packets: int,
        octets: int,
        wire_bytes: int,
        timestamp: int,
        ntp: int,
    ) -> None:
        """Feed aiortc's sender reports and stats as its own loop would."""
        self.packets_sent += packets
        self.octets_sent += octets
        sender = self._sender
        setattr(sender, _SENDER + "ntp_timestamp", ntp)
        setattr(sender, _SENDER + "rtp_timestamp", timestamp)
        setattr(sender, _SENDER + "packet_count", self.packets_sent)
        setattr(sender, _SENDER + "octet_count", self.octets_sent)
        setattr(dtls, _DTLS + "tx_packets", getattr(dtls, _DTLS + "tx_packets") + packets)
        setattr(dtls, _DTLS + "tx_bytes", getattr(dtls, _DTLS + "tx_bytes") + wire_bytes)

    def _write(self, datagrams: list[bytes]) -> None:
        """Write to the socket, in UDP GSO batches when the kernel takes them."""
        transport = self._socket_transport
        remote_addr = self._remote_addr
        sock = self._socket
        if sock is None or not UDP_GSO or len(datagrams) == 1 or transport.get_write_buffer_size():
            for data in datagrams:
                transport.sendto(data, remote_addr)
            return
        start, count = 0, len(datagrams)
        while start < count:
            size = len(datagrams[start])
            end = start + 1
            total = size
            # Equal-sized datagrams, then at most one shorter one, end a batch.
            while end < count and end - start < _GSO_MAX_SEGMENTS:
                length = len(datagrams[end])
                if length > size or total + length > _GSO_MAX_BYTES:
                    break
                end += 1
                total += length
                if length < size:
                    break
            if end - start == 1:
                transport.sendto(datagrams[start], remote_addr)
            elif not self._send_segmented(sock, datagrams[start:end], size):
                for data in datagrams[start:]:
                    transport.sendto(data, remote_addr)
                return
            start = end

    def _send_segmented(self, sock: socket.socket, batch: list[bytes], size: int) -> bool:
        """One ``sendmsg`` for ``batch``; False when it must go datagram by datagram."""
        assert self._remote_addr is not None
        if not send_segmented(sock, batch, size, self._remote_addr):
            return False
        self.segmented_sends += 1
        return True

    def _locate_socket(self, dtls: RTCDtlsTransport) -> None:
        """The nominated pair's datagram transport, when nothing stands between it and
        aiortc (no TURN relay, no wrapper around the ICE transport's send)."""
        ice: Any = dtls.transport
        connection = ice._connection
        pair = connection._nominated.get(1)
        if pair is self._pair:
            return
        self._pair = pair
        self._socket_transport = None
        self._socket = None
        self._remote_addr = None
        if pair is None or type(pair.protocol) is not StunProtocol:
            return
        if ice._send != connection.send:
            return
        self._socket_transport = pair.protocol.transport
        self._remote_addr = pair.remote_addr
        sock = getattr(self._socket_transport, "_sock", None)
        self._socket = sock if isinstance(sock, socket.socket) else None

    def _send_later(self, dtls: RTCDtlsTransport, datagrams: list[bytes]) -> None:
        """The slow path, through aiortc's ICE transport (a relay or a wrapped send)."""

        async def send() -> None:
            try:
                for data in datagrams:
                    await dtls.transport._send(data)
            except ConnectionError:
                self._finish()

        task = asyncio.ensure_future(send())
        self._fallback.add(task)
        task.add_done_callback(self._fallback.discard)

    # ---- NACK ---------------------------------------------------------------------------

    async def _retransmit(self, sequence_number: int) -> None:
        """Stands in for ``RTCRtpSender._retransmit``: resend a packet reported lost."""
        packet = self._history[sequence_number & (RTP_HISTORY_SIZE - 1)]
        if packet is None or int.from_bytes(packet[2:4], "big") != sequence_number:
            return
        sender = self._sender
        rtx_payload_type = getattr(sender, _SENDER + "rtx_payload_type")
        if rtx_payload_type is not None:
            rtx_sequence_number = getattr(sender, _SENDER + "rtx_sequence_number")
            rtx = wrap_rtx(
                RtpPacket.parse(packet, self._extensions_map),
                payload_type=rtx_payload_type,
                sequence_number=rtx_sequence_number,
                ssrc=sender._rtx_ssrc,
            )
            setattr(sender, _SENDER + "rtx_sequence_number", (rtx_sequence_number + 1) & 0xFFFF)
            packet = rtx.serialize(self._extensions_map)
        self.retransmissions += 1
        dtls: RTCDtlsTransport = sender.transport
        await dtls._send_rtp(packet)


def send_segmented(
    sock: socket.socket, batch: list[bytes], size: int, address: tuple[str, int]
) -> bool:
    """Send ``batch`` (datagrams of ``size`` bytes, the last maybe shorter) in one
    ``sendmsg`` with UDP_SEGMENT: the kernel cuts it back into those datagrams. False when
    the caller must send them one by one (socket busy, or GSO refused: then off for good)."""
    global UDP_GSO
    try:
        sock.sendmsg(
            [b"".join(batch)],
            [(socket.SOL_UDP, _UDP_SEGMENT, size.to_bytes(2, sys.byteorder))],
            0,
            address,
        )
        return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError as exc:
        if exc.errno in _GSO_UNSUPPORTED:
            UDP_GSO = False
            log.warning("UDP GSO refused (%s); sending datagram by datagram", exc)
        return False


def forwarder_of(sender: RTCRtpSender) -> RtpForwarder | None:
    """The forwarder installed on ``sender``, if any."""
    owner = getattr(sender._run_rtp, "__self__", None)
    return owner if isinstance(owner, RtpForwarder) else None

"""SRTP-protected RTP written back to back into one buffer and sent in UDP GSO batches.

``RtpForwarder`` (``streamer.forwarding.forwarder``) packs each packet's header and payload
straight into ``SCRATCH`` and has libsrtp protect it in place with the viewer's own session:
no bytes object per packet and no copies in and out of pylibsrtp's buffer. ``DatagramWriter``
then sends the buffer: one ``sendmsg`` per batch of equal-sized datagrams (UDP_SEGMENT,
Linux >= 4.18; the kernel cuts it back into the same datagrams), else datagram by datagram.
``SCRATCH`` is shared by every forwarder of the process, all on the event loop's thread: a
batch is always sent, or copied by asyncio's transport, before the next one is written.

``FAST_SEND``, the C extension ``streamer.forwarding._fastsend`` when it was built (Linux,
with a C compiler at install time), does the same packing, protection and sending in one
call per viewer and drain; this module's Python path (``send_frames``) is its reference and
its fallback. Whether to use UDP GSO is each streamer's ``UdpGso`` switch.

libsrtp is reached through ``streamer.aiortc.srtp``.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import socket
import struct
import sys
from types import ModuleType
from typing import Any

import pylibsrtp

from streamer.aiortc.srtp import MAX_TRAILER, buffer_pointer, new_length_cell, srtp_protect

log = logging.getLogger("directlive.streamer")

UDP_GSO_ENV = "DIRECTLIVE_UDP_GSO"


def default_udp_gso() -> bool:
    """On (Linux) unless ``DIRECTLIVE_UDP_GSO=0``."""
    return sys.platform.startswith("linux") and os.environ.get(UDP_GSO_ENV) != "0"


class UdpGso:
    """One streamer's switch: send a frame's equal-sized packets in one ``sendmsg`` with
    UDP_SEGMENT (a fraction of the per-packet syscall cost). Turned off for that streamer the
    first time the kernel refuses it."""

    __slots__ = ("enabled",)

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = default_udp_gso() if enabled is None else enabled

    def refused(self, reason: object = "") -> None:
        if self.enabled:
            self.enabled = False
            log.warning("UDP GSO refused %s; sending datagram by datagram", reason)


_UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
GSO_MAX_SEGMENTS = 64
_GSO_MAX_BYTES = 65_000
_GSO_UNSUPPORTED = {errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO}

BATCH_LIMIT = _GSO_MAX_BYTES - MAX_TRAILER
"""Unprotected bytes a batch may hold: room is left for the last packet's SRTP trailer."""
_scratch = bytearray(_GSO_MAX_BYTES)
SCRATCH = memoryview(_scratch)
SCRATCH_POINTER = buffer_pointer(_scratch)


def _load_fast_send() -> ModuleType | None:
    if os.environ.get("DIRECTLIVE_FAST_SEND") == "0" or not sys.platform.startswith("linux"):
        return None
    try:
        return importlib.import_module("streamer.forwarding._fastsend")
    except ImportError:
        log.warning("the C forwarding path was not built; forwarding runs the slower Python path")
        return None


FAST_SEND = _load_fast_send()
"""The C forwarding path, or None (not built, not Linux, or ``DIRECTLIVE_FAST_SEND=0``)."""


def pack_sockaddr(family: int, address: tuple[Any, ...]) -> bytes:
    """``address`` as the C ``struct sockaddr_in`` / ``sockaddr_in6`` of ``family``, or b""
    when it is something else (then ``FAST_SEND`` leaves the datagrams to the transport)."""
    try:
        host, port = str(address[0]), int(address[1])
        if family == socket.AF_INET:
            return struct.pack("=H", family) + struct.pack("!H4s8x", port, socket.inet_aton(host))
        if family == socket.AF_INET6:
            host, _, scope = host.partition("%")
            scope_id = int(address[3]) if len(address) > 3 else 0
            if scope and not scope_id:
                scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
            packed = socket.inet_pton(socket.AF_INET6, host)
            return (
                struct.pack("=H", family)
                + struct.pack("!HI16s", port, 0, packed)
                + struct.pack("=I", scope_id)
            )
    except (OSError, ValueError, IndexError, TypeError):
        pass
    return b""


class DatagramWriter:
    """Sends datagrams from ``SCRATCH`` to one viewer: straight to the nominated pair's socket
    while its asyncio transport has nothing queued, else through that transport (which copies
    what it queues), else, with no transport of ours, collected for aiortc's ICE transport."""

    def __init__(self, gso: UdpGso) -> None:
        self.gso = gso
        self.transport: Any = None
        self.socket: socket.socket | None = None
        self.address: tuple[str, int] | None = None
        self.sockaddr = b""
        """``address`` packed for ``FAST_SEND`` (b"" when it could not be)."""
        self.direct = False
        self.max_segments = 1
        self.collected: list[bytes] = []
        self.segmented_sends = 0

    def bind(self, transport: Any, address: tuple[str, int] | None) -> None:
        """Write to ``transport`` (an asyncio datagram transport) or, with None, collect."""
        self.transport = transport
        self.address = address
        sock = getattr(transport, "_sock", None)
        self.socket = sock if isinstance(sock, socket.socket) else None
        self.sockaddr = (
            b""
            if self.socket is None or address is None
            else pack_sockaddr(self.socket.family, address)
        )

    def begin(self, buffered: int) -> None:
        """Before a write: ``buffered`` is what the transport still holds, in bytes."""
        self.direct = self.socket is not None and not buffered
        self.max_segments = GSO_MAX_SEGMENTS if self.direct and self.gso.enabled else 1

    def flush(self, end: int, count: int, segment: int) -> None:
        """Send the ``count`` datagrams in ``SCRATCH[:end]``: ``segment`` bytes each, the
        last maybe shorter."""
        data = SCRATCH[:end]
        address = self.address
        if self.direct:
            sock = self.socket
            assert sock is not None
            assert address is not None
            if count > 1:
                if send_segmented(sock, data, segment, address, self.gso):
                    self.segmented_sends += 1
                    return
            else:
                try:
                    sock.sendto(data, address)
                    return
                except OSError:
                    pass  # the transport retries, then queues it or reports the error
            self.direct = False  # keep the order: the rest goes through the transport too
        transport = self.transport
        if transport is None:
            self.collected.append(bytes(data))
            return
        for start in range(0, end, segment):
            transport.sendto(data[start : start + segment], address)

    def send_leftovers(self, datagrams: list[bytes]) -> None:
        """Datagrams ``FAST_SEND`` did not send directly, in order: through the transport,
        else collected."""
        transport = self.transport
        if transport is None:
            self.collected.extend(datagrams)
            return
        address = self.address
        for data in datagrams:
            transport.sendto(data, address)


Sent = tuple[int, list[bytes], int, bytes]
"""A frame as sent: its first sequence number, payloads, RTP timestamp, extension block."""
RTP_HEADER = struct.Struct("!BBHII")
"""The fixed RTP header: first byte, marker | payload type, sequence, timestamp, SSRC."""
_LENGTH = new_length_cell()
"""``send_frames``'s length cell for ``srtp_protect`` (one thread, like ``SCRATCH``)."""


def send_frames(
    writer: DatagramWriter,
    srtp: Any,
    header: tuple[int, int, int],
    frames: list[Sent],
    history: list[Sent | None],
) -> tuple[int, int, int]:
    """The Python reference of ``_fastsend.send_frames``: packs each frame's packets into
    ``SCRATCH`` (``header`` is first byte, payload type, SSRC), protects them in place with
    the libsrtp context ``srtp``, sends them with ``writer`` (begun) and records each
    packet's frame in ``history``. Returns (packets, wire bytes, payload bytes)."""
    first_byte, payload_type, ssrc = header
    length, pointer, scratch = _LENGTH, SCRATCH_POINTER, SCRATCH
    flush, max_segments = writer.flush, writer.max_segments
    mask = len(history) - 1
    pack_into = RTP_HEADER.pack_into
    packets = wire_bytes = payload_bytes = 0
    # The batch in SCRATCH[:end]: ``count`` datagrams of ``wire_segment`` bytes (the last
    # maybe shorter), from packets of ``segment`` bytes before SRTP; libsrtp adds the
    # same tag to every packet of a session, so equal sizes stay equal.
    end = count = segment = wire_segment = 0
    for sent in frames:
        seq, payloads, timestamp, extensions = sent
        header_size = RTP_HEADER.size + len(extensions)
        last = len(payloads) - 1
        for index, payload in enumerate(payloads):
            size = header_size + len(payload)
            if size > segment or count == max_segments or end + size > BATCH_LIMIT:
                if count:
                    flush(end, count, wire_segment)
                    wire_bytes += end
                    end = count = 0
                if size > BATCH_LIMIT:
                    raise ValueError(f"RTP packet too long ({size} bytes)")
            marker = 0x80 if index == last else 0
            pack_into(scratch, end, first_byte, marker | payload_type, seq, timestamp, ssrc)
            scratch[end + RTP_HEADER.size : end + header_size] = extensions
            scratch[end + header_size : end + size] = payload
            length[0] = size
            if srtp_protect(srtp, pointer + end, length):
                raise pylibsrtp.Error("srtp_protect failed")
            wire = length[0]
            if not count:
                segment, wire_segment = size, wire
            elif size < segment:
                segment = -1  # a shorter datagram ends the batch
            count += 1
            end += wire
            payload_bytes += len(payload)
            history[seq & mask] = sent
            seq = (seq + 1) & 0xFFFF
        packets += last + 1
    if count:
        flush(end, count, wire_segment)
        wire_bytes += end
    return packets, wire_bytes, payload_bytes


def send_segmented(
    sock: socket.socket, data: Any, size: int, address: tuple[str, int], gso: UdpGso
) -> bool:
    """Send ``data`` (datagrams of ``size`` bytes, the last maybe shorter) in one ``sendmsg``
    with UDP_SEGMENT. False when the caller must send them one by one (socket busy, or GSO
    refused: then ``gso`` is off for good)."""
    try:
        sock.sendmsg(
            [data],
            [(socket.SOL_UDP, _UDP_SEGMENT, size.to_bytes(2, sys.byteorder))],
            0,
            address,
        )
        return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError as exc:
        if exc.errno in _GSO_UNSUPPORTED:
            gso.refused(f"({exc})")
        return False

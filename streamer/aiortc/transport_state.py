"""Typed handles on the private state of aiortc's DTLS and ICE transports that the forwarding
path reads and feeds: connection state, SRTP session, counters, the nominated ICE pair."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCDtlsTransport
from aiortc.rtcdtlstransport import State

_CONNECTED = State.CONNECTED


def dtls_connected(dtls: RTCDtlsTransport) -> bool:
    return bool(dtls._state == _CONNECTED)


def srtp_session(dtls: RTCDtlsTransport) -> pylibsrtp.Session:
    """The SRTP session DTLS protects outgoing RTP with (once ``dtls_connected``)."""
    session: pylibsrtp.Session = dtls._tx_srtp
    return session


def count_sent(dtls: RTCDtlsTransport, packets: int, wire_bytes: int) -> None:
    """Add what was sent around DTLS to its own counters (its stats read them)."""
    handle: Any = dtls
    handle._RTCDtlsTransport__tx_packets += packets
    handle._RTCDtlsTransport__tx_bytes += wire_bytes


async def send_rtp(dtls: RTCDtlsTransport, packet: bytes) -> None:
    """Protect and send one RTP packet the way aiortc's sender does."""
    await dtls._send_rtp(packet)


async def send_datagram(dtls: RTCDtlsTransport, data: bytes) -> None:
    """Send an already protected datagram through the ICE transport (relay or wrapper)."""
    await dtls.transport._send(data)


class IcePath:
    """Where one DTLS transport's datagrams go: the nominated ICE pair of its connection."""

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        ice: Any = dtls.transport
        connection = ice._connection
        self.dtls = dtls
        self._nominated: dict[int, Any] = connection._nominated
        self.pair: object | None = self._nominated.get(1)
        """The nominated pair of RTP's component when this path was looked up."""
        pair: Any = self.pair
        direct = pair is not None and type(pair.protocol) is StunProtocol
        unwrapped = ice._send == connection.send
        self.transport: asyncio.DatagramTransport | None = (
            pair.protocol.transport if direct and unwrapped else None
        )
        """The pair's datagram transport when nothing stands between it and aiortc (no
        TURN relay, no wrapper around the ICE transport's send), else None."""
        self.remote_address: tuple[str, int] | None = (
            pair.remote_addr if self.transport is not None else None
        )

    def current(self, dtls: RTCDtlsTransport) -> bool:
        """Whether ``dtls`` and its nominated pair are still the ones looked up."""
        return dtls is self.dtls and self._nominated.get(1) is self.pair


RtpHandler = Callable[[bytes, int], Coroutine[Any, Any, None]]


def handle_rtp_with(dtls: RTCDtlsTransport, handler: RtpHandler) -> None:
    """Give every unprotected RTP packet DTLS receives to ``handler(data, arrival_ms)``
    instead of aiortc's receivers (a load client that counts packets)."""
    handle: Any = dtls
    handle._handle_rtp_data = handler


def unprotect_from_socket(
    dtls: RTCDtlsTransport,
    on_rtp: Callable[[bytes], None],
    count_only: frozenset[int] = frozenset(),
    on_counted: Callable[[], None] | None = None,
) -> bool:
    """Unprotect RTP straight from the nominated pair's socket and give it to ``on_rtp``
    (STUN, DTLS and RTCP still go through aioice and aiortc). RTP of a payload type in
    ``count_only`` is not decrypted, only counted with ``on_counted()`` (its header is in
    the clear). After a decrypted packet without the marker bit (more of its frame follows,
    sent in the same burst), the socket is read again at once: a frame costs one
    event-loop wake-up. False until both the pair and the SRTP session exist."""
    handle: Any = dtls
    connection: Any = handle.transport._connection
    pair = connection._nominated.get(1)
    if pair is None or handle._rx_srtp is None:
        return False
    protocol = pair.protocol
    forward = protocol.datagram_received
    unprotect = handle._rx_srtp.unprotect
    transport = getattr(protocol, "transport", None)
    sock = getattr(transport, "_sock", None)
    recvfrom = sock.recvfrom if isinstance(sock, socket.socket) else None

    def one(data: bytes, addr: Any) -> bool:
        """Handles one datagram; True when more of its frame is expected at once."""
        if 127 < data[0] < 192:
            if not 191 < data[1] < 224:  # RTP, not RTCP
                if data[1] & 0x7F in count_only:
                    if on_counted is not None:
                        on_counted()
                    return False
                try:
                    packet = unprotect(data)
                except pylibsrtp.Error:  # a replay or a failed authentication
                    return False
                on_rtp(packet)
                return not data[1] & 0x80
            return False
        forward(data, addr)
        return False

    def datagram_received(data: bytes, addr: Any) -> None:
        more = one(data, addr)
        while more and recvfrom is not None:
            try:
                data, addr = recvfrom(65536)
            except OSError:  # not there yet (or an error the next read reports)
                return
            more = one(data, addr)

    protocol.datagram_received = datagram_received
    return True

"""Per-connection adjustments for publishers that bend WebRTC's rules (FFmpeg's WHIP muxer).

Both wrap aioice/aiortc instance attributes (aiortc is pinned); ``tests/test_ffmpeg_whip.py``
exercises them end to end against the real muxer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiortc import RTCPeerConnection

DTLS_RESEND_DELAYS = (0.05, 0.1, 0.2, 0.4)


def _ice_transports(pc: RTCPeerConnection) -> list[Any]:
    unique: dict[int, Any] = {}
    for transceiver in pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        unique[id(ice)] = ice
    return list(unique.values())


class _InactivityInsteadOfConsent:
    """Stands in for aioice's consent loop: closes when nothing arrived for ``timeout`` s."""

    def __init__(self, connection: Any, timeout: float) -> None:
        self._connection = connection
        self._timeout = timeout
        self._forward = connection.data_received
        self._last_received = time.monotonic()
        connection.data_received = self.data_received
        connection.query_consent = self.watch

    def data_received(self, data: bytes, component: int) -> None:
        self._last_received = time.monotonic()
        self._forward(data, component)

    async def watch(self) -> None:
        self._last_received = time.monotonic()
        while True:
            quiet_for = time.monotonic() - self._last_received
            if quiet_for >= self._timeout:
                break
            await asyncio.sleep(self._timeout - quiet_for)
        self._connection._query_consent_task = None  # as aioice does before closing
        await self._connection.close()


def replace_consent_with_inactivity(pc: RTCPeerConnection, timeout: float = 5.0) -> None:
    """FFmpeg never answers ICE consent checks (RFC 7675), so aioice would drop it after ~30 s.

    Consent is replaced by inactivity: the connection closes when nothing at all (media,
    RTCP, STUN) arrived for ``timeout`` seconds, as an expired consent would. Call after
    ``setRemoteDescription``, before the answer is returned.
    """
    for ice in _ice_transports(pc):
        _InactivityInsteadOfConsent(ice.iceGatherer._connection, timeout)


class _FirstFlightResender:
    """Resends our first DTLS handshake datagram until the peer sends any DTLS record."""

    def __init__(self, ice: Any) -> None:
        self._send = ice._send
        self._recv = ice._recv
        self._first_sent = False
        self._answered = False
        self._task: asyncio.Future[None] | None = None
        self._ice = ice
        ice._send = self.send
        ice._recv = self.recv

    async def send(self, data: bytes) -> None:
        if not self._first_sent and data[:1] == b"\x16":  # DTLS handshake record
            self._first_sent = True
            self._task = asyncio.ensure_future(self._resend(data))
        await self._send(data)

    async def recv(self) -> bytes:
        data: bytes = await self._recv()
        if data and 19 < data[0] < 64:  # any DTLS record (RFC 7983)
            self._answered = True
            self._ice._send, self._ice._recv = self._send, self._recv  # done: unwrap
        return data

    async def _resend(self, data: bytes) -> None:
        for delay in DTLS_RESEND_DELAYS:
            await asyncio.sleep(delay)
            if self._answered:
                return
            try:
                await self._send(data)
            except ConnectionError:
                return


def resend_first_dtls_flight(pc: RTCPeerConnection) -> None:
    """aiortc (as DTLS client) sends its ClientHello as soon as its side of ICE completes; a
    peer still finishing ICE drops it (FFmpeg does) and OpenSSL retransmits only after 1 s.
    Resending early is harmless: DTLS's replay window discards a duplicate."""
    for ice in _ice_transports(pc):
        _FirstFlightResender(ice)


def bundle_every_mid(pc: RTCPeerConnection) -> None:
    """Put every m-line of the offer's BUNDLE group on the group's transport.

    With its balanced policy aiortc puts each further m-line of a kind on the first one's
    transport as it creates it, then skips those when the BUNDLE moves that first one onto the
    group's transport: after an audio m-line, every video m-line but the first is left on a
    stopped transport and its packets are dropped. Call between setRemoteDescription and the
    answer (the receivers register with their transport when the answer is applied)."""
    description = pc.remoteDescription
    group = next(
        (
            line.split()[1:]
            for line in description.sdp.splitlines()
            if line.startswith("a=group:BUNDLE")
        ),
        [],
    )
    by_mid = {t.mid: t for t in pc.getTransceivers() if t.mid is not None}
    primary = by_mid.get(group[0]) if group else None
    if primary is None:
        return
    transport = primary.receiver.transport
    for mid in group[1:]:
        transceiver = by_mid.get(mid)
        if transceiver is not None and transceiver.receiver.transport is not transport:
            transceiver.receiver.setTransport(transport)
            transceiver.sender.setTransport(transport)

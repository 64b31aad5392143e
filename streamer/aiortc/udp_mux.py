"""One UDP port per process: every server peer connection shares one socket per address.

aioice binds one ephemeral UDP socket per peer connection and host address
(``Connection.get_component_candidates``). With ``--udp-port`` the server instead binds one
socket per host address on a fixed port, and ``UdpMux.adopt`` replaces that method on each of
the server's ICE connections before it gathers: the connection still gets a real aioice
``StunProtocol`` per host candidate, whose transport is a ``MuxedTransport``, a view of the
shared socket. Incoming datagrams are routed in ``SharedUdpSocket.datagram_received``:

- a STUN Binding request goes to the connection whose local ufrag starts its USERNAME
  (``local:remote``); every connection of the process gets its own ufrag, so the route is
  unambiguous even for offers without BUNDLE;
- anything else (STUN responses, DTLS, SRTP, SRTCP) goes by the sender's address, learned when
  the connection itself sends that address a STUN request (a check to a remote candidate; it
  never takes an address another connection holds) or a success response (to an
  authenticated check: aioice answers only after MESSAGE-INTEGRITY passed; this one does take
  it over), never from an incoming packet alone;
- the rest (and STUN that aioice's parser chokes on) is dropped and counted
  (``udp_unknown_ufrag``, ``udp_stray_datagrams`` in ``ForwardingStats``), with at most one
  log line per ``LOG_INTERVAL``.

Tables are bounded: one ufrag route per open connection and host address, at most
``MAX_ADDRESSES_PER_CONNECTION`` learned addresses each, all removed when aioice closes the
connection's protocols. ``MuxedTransport`` keeps ``_sock`` and ``get_write_buffer_size`` of the
shared transport, so the forwarder's direct path (``streamer.srtp_batch.DatagramWriter``,
``streamer._fastsend``) sends on the shared socket's fd with the viewer's address as before.

It names aioice/aiortc private attributes (``Connection._local_username``, ``_protocols``,
``_local_candidates_start``, ``RTCPeerConnection.__iceTransports``, ``RTCIceGatherer._connection``);
aiortc is pinned and ``tests/test_udp_mux.py`` fails if they move.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import secrets
import socket
import struct
import time
from typing import Any, cast

from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import (
    Connection,
    StunProtocol,
    TransportPolicy,
    relayed_candidate,
    server_reflexive_candidate,
)
from aiortc import RTCPeerConnection, RTCSessionDescription

from streamer.aiortc.ice import HostAddresses
from streamer.stats import ForwardingStats

log = logging.getLogger("directlive.streamer")

MAX_ADDRESSES_PER_CONNECTION = 32
"""Remote addresses one connection's protocol may learn (its candidates it checks, and the
peer-reflexive ones that passed a check); further ones are not routed."""
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
"""Asked for as SO_RCVBUF and SO_SNDBUF (forced when the process may, else capped by the
kernel's rmem_max / wmem_max): the one socket carries every connection's datagrams."""
LOG_INTERVAL = 10.0
"""Seconds between two log lines about dropped datagrams."""
_STUN_COOKIE = b"\x21\x12\xa4\x42"
_STUN_HEADER = 20
_BINDING_REQUEST = 0x0001
_USERNAME = 0x0006
_CLASS_MASK = 0x0110
_CLASS_REQUEST = 0x0000
_CLASS_SUCCESS = 0x0100
_PEER_ICE_TRANSPORTS = "_RTCPeerConnection__iceTransports"
Address = tuple[str, int]


def binding_request_ufrag(data: bytes) -> str | None:
    """The local ufrag of a STUN Binding request (USERNAME ``local:remote``), "" for a Binding
    request without one, or None when ``data`` is not a Binding request."""
    if len(data) < _STUN_HEADER or data[4:8] != _STUN_COOKIE:
        return None
    message_type, length = struct.unpack_from("!HH", data)
    if message_type != _BINDING_REQUEST:
        return None
    end = min(len(data), _STUN_HEADER + length)
    offset = _STUN_HEADER
    while offset + 4 <= end:
        attribute, size = struct.unpack_from("!HH", data, offset)
        if attribute == _USERNAME:
            value = data[offset + 4 : offset + 4 + size]
            return value.split(b":", 1)[0].decode("utf-8", "replace")
        offset += 4 + size + (-size % 4)
    return ""


def stun_class(data: bytes) -> int | None:
    """``_CLASS_REQUEST``, ``_CLASS_SUCCESS``... of a STUN message, None for anything else."""
    if len(data) < _STUN_HEADER or data[4:8] != _STUN_COOKIE or data[0] & 0xC0:
        return None
    return ((data[0] << 8) | data[1]) & _CLASS_MASK


class MuxedTransport(asyncio.DatagramTransport):
    """One connection's view of a ``SharedUdpSocket``, as its ``StunProtocol`` transport."""

    def __init__(self, shared: SharedUdpSocket, protocol: StunProtocol, ufrag: str) -> None:
        super().__init__()
        self.shared = shared
        self.protocol = protocol
        self.ufrag = ufrag
        self.learned: set[Address] = set()
        self._closed = False
        self._sock = shared.sock
        """As asyncio's own transports: ``DatagramWriter`` sends on it directly."""

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._closed:
            return
        if addr is not None and data[0] <= 1:  # maybe STUN (RFC 7983); never SRTP or DTLS
            kind = stun_class(bytes(data[:_STUN_HEADER]))
            if kind == _CLASS_SUCCESS:  # to an address that passed a check: it is the peer's
                self.shared.learn((addr[0], addr[1]), self, take_over=True)
            elif kind == _CLASS_REQUEST:  # a check (or consent) to a candidate we were given
                self.shared.learn((addr[0], addr[1]), self, take_over=False)
        self.shared.transport.sendto(data, addr)

    def get_write_buffer_size(self) -> int:
        transport: Any = self.shared.transport  # asyncio's: a write buffer of its own
        return int(transport.get_write_buffer_size())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return (self.shared.address, self.shared.port)
        return self.shared.transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._closed or self.shared.transport.is_closing()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.shared.forget(self)
        asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class SharedUdpSocket(asyncio.DatagramProtocol):
    """The socket bound to one host address and the port, and its routes."""

    def __init__(self, mux: UdpMux, sock: socket.socket) -> None:
        self.mux = mux
        self.sock = sock
        self.address, self.port = sock.getsockname()[:2]
        self.transport: asyncio.DatagramTransport
        self.by_ufrag: dict[str, MuxedTransport] = {}
        self.by_address: dict[Address, MuxedTransport] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        address = (addr[0], addr[1])
        ufrag = binding_request_ufrag(data) if data and data[0] < 2 else None
        if ufrag is not None:
            route = self.by_ufrag.get(ufrag) if ufrag else None
            if route is None:
                self.mux.dropped(unknown_ufrag=True, address=address)
                return
        else:
            route = self.by_address.get(address)
            if route is None:
                self.mux.dropped(unknown_ufrag=False, address=address)
                return
        try:
            route.protocol.datagram_received(data, address)
        except struct.error:  # aioice's STUN parser lets it out of a bad attribute length
            self.mux.dropped(unknown_ufrag=False, address=address)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp port %d on %s: %r", self.port, self.address, exc)

    def open(self, connection: Connection, ufrag: str, component: int) -> StunProtocol:
        """A host-candidate protocol of ``connection`` on this socket."""
        protocol = StunProtocol(connection)
        view = MuxedTransport(self, protocol, ufrag)
        protocol.connection_made(view)
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", self.address),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=self.address,
            port=self.port,
            type="host",
        )
        self.by_ufrag[ufrag] = view
        return protocol

    def learn(self, address: Address, view: MuxedTransport, *, take_over: bool) -> None:
        """Route ``address`` to ``view``. A candidate named in a session's SDP does not take
        an address from another connection (a client could name someone else's); only an
        authenticated check from that address does."""
        owner = self.by_address.get(address)
        if owner is view or (owner is not None and not take_over):
            return
        if len(view.learned) >= MAX_ADDRESSES_PER_CONNECTION:
            return
        if owner is not None:
            owner.learned.discard(address)
        self.by_address[address] = view
        view.learned.add(address)

    def forget(self, view: MuxedTransport) -> None:
        for address in view.learned:
            if self.by_address.get(address) is view:
                del self.by_address[address]
        view.learned.clear()
        if self.by_ufrag.get(view.ufrag) is view:
            del self.by_ufrag[view.ufrag]


class UdpMux:
    """The process's UDP port for ICE: one ``SharedUdpSocket`` per host address."""

    def __init__(self, port: int, stats: ForwardingStats) -> None:
        self.port = port
        self.stats = stats
        self._sockets: dict[str, socket.socket] = {}
        self._shared: dict[str, SharedUdpSocket] = {}
        self._opening: dict[str, asyncio.Future[SharedUdpSocket]] = {}
        self._last_log = 0.0

    def bind_host_addresses(self, host_addresses: HostAddresses) -> None:
        """Bind every address ICE offers now (start-up): a port already taken raises
        ``OSError``; an address that cannot be bound otherwise (an IPv6 address still
        tentative) is skipped until a connection gathers."""
        for address in host_addresses.choose(use_ipv4=True, use_ipv6=True):
            try:
                self._bound(address)
            except OSError as exc:
                message = f"udp port {self.port} on {address}: {exc.strerror}"
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(exc.errno, message) from exc
                log.warning("%s; skipped for now", message)

    def _bound(self, address: str) -> socket.socket:
        sock = self._sockets.get(address)
        if sock is not None:
            return sock
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, self.port))
        except OSError:
            sock.close()
            raise
        for forced, plain in (
            (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF),
            (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF),
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, forced, SOCKET_BUFFER_BYTES)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER_BYTES)
            granted = sock.getsockopt(socket.SOL_SOCKET, plain) // 2  # Linux reports double
            if granted < SOCKET_BUFFER_BYTES:
                log.warning(
                    "udp port %d: the kernel grants %d bytes of %s, not %d: every connection "
                    "of the process shares it (raise net.core.%s, or grant CAP_NET_ADMIN)",
                    self.port,
                    granted,
                    "SO_SNDBUF" if plain == socket.SO_SNDBUF else "SO_RCVBUF",
                    SOCKET_BUFFER_BYTES,
                    "wmem_max" if plain == socket.SO_SNDBUF else "rmem_max",
                )
        sock.setblocking(False)
        self._sockets[address] = sock
        log.info("ICE listens on udp %s port %d", address, self.port)
        return sock

    async def shared_socket(self, address: str) -> SharedUdpSocket | None:
        """The shared socket of ``address`` (bound now if it is a new address), or None when
        the port cannot be bound there."""
        shared = self._shared.get(address)
        if shared is not None:
            return shared
        opening = self._opening.get(address)
        if opening is None:
            try:
                sock = self._bound(address)
            except OSError as exc:
                log.warning("udp port %d: cannot bind %s: %s", self.port, address, exc)
                return None
            opening = asyncio.ensure_future(self._open(address, sock))
            self._opening[address] = opening
        return await asyncio.shield(opening)

    async def _open(self, address: str, sock: socket.socket) -> SharedUdpSocket:
        loop = asyncio.get_running_loop()
        try:
            _, shared = await loop.create_datagram_endpoint(
                lambda: SharedUdpSocket(self, sock), sock=sock
            )
        finally:
            self._opening.pop(address, None)
        self._shared[address] = shared
        return shared

    def adopt(self, pc: RTCPeerConnection) -> None:
        """Make ``pc``'s ICE connections gather their host candidates on this port."""
        set_local_description = pc.setLocalDescription

        async def gather_here(description: RTCSessionDescription | None = None) -> None:
            for ice in getattr(pc, _PEER_ICE_TRANSPORTS):
                connection = ice.iceGatherer._connection
                if not connection._local_candidates_start and not hasattr(
                    connection, "_directlive_mux"
                ):
                    self._take(connection)
            await set_local_description(description)

        setattr(pc, "setLocalDescription", gather_here)  # noqa: B010

    def _take(self, connection: Connection) -> None:
        connection._local_username = self._unique_ufrag()
        connection._directlive_mux = self  # type: ignore[attr-defined]

        async def get_component_candidates(
            component: int, addresses: list[str], timeout: int = 5
        ) -> list[Candidate]:
            return await self._gather(connection, component, addresses, timeout)

        setattr(connection, "get_component_candidates", get_component_candidates)  # noqa: B010

    def _unique_ufrag(self) -> str:
        while True:
            ufrag = secrets.token_hex(6)
            if all(ufrag not in shared.by_ufrag for shared in self._shared.values()):
                return ufrag

    async def _gather(
        self, connection: Connection, component: int, addresses: list[str], timeout: int
    ) -> list[Candidate]:
        """``Connection.get_component_candidates`` with host candidates on the shared port
        (server-reflexive and relayed ones as aioice gathers them, should a STUN or TURN
        server ever be configured for the server's own connections)."""
        candidates: list[Candidate] = []
        hosts: list[StunProtocol] = []
        for address in addresses:
            shared = await self.shared_socket(address)
            if shared is None or connection._closing:
                continue
            protocol = shared.open(connection, connection.local_username, component)
            hosts.append(protocol)
            candidates.append(protocol.local_candidate)
        connection._protocols += hosts
        tasks: list[asyncio.Task[tuple[Candidate, StunProtocol | None]]] = []
        if connection.stun_server:
            stun_server = connection.stun_server
            tasks += [
                asyncio.create_task(server_reflexive_candidate(protocol, stun_server))
                for protocol in hosts
                if ipaddress.ip_address(protocol.local_candidate.host).version == 4
            ]
        if connection.turn_server:
            tasks.append(
                asyncio.create_task(
                    relayed_candidate(
                        component=component,
                        hide_related_address=connection._transport_policy == TransportPolicy.RELAY,
                        protocol_factory=lambda: StunProtocol(connection),
                        turn_server=connection.turn_server,
                        turn_username=connection.turn_username,
                        turn_password=connection.turn_password,
                        turn_ssl=connection.turn_ssl,
                        turn_transport=connection.turn_transport,
                    )
                )
            )
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in done:
                if task.exception() is None:
                    candidate, relay = task.result()
                    candidates.append(candidate)
                    if relay is not None:
                        connection._protocols.append(relay)
            for task in pending:
                task.cancel()
        return candidates

    def dropped(self, *, unknown_ufrag: bool, address: Address) -> None:
        if unknown_ufrag:
            self.stats.udp_unknown_ufrag += 1
        else:
            self.stats.udp_stray_datagrams += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_INTERVAL:
            self._last_log = now
            log.warning(
                "udp port %d: dropped %d STUN requests for unknown ufrags and %d stray "
                "datagrams so far (latest from %s:%d)",
                self.port,
                self.stats.udp_unknown_ufrag,
                self.stats.udp_stray_datagrams,
                *address,
            )

    def routes(self) -> tuple[int, int]:
        """(ufrag routes, address routes) over every shared socket."""
        return (
            sum(len(s.by_ufrag) for s in self._shared.values()),
            sum(len(s.by_address) for s in self._shared.values()),
        )

    def close(self) -> None:
        for shared in self._shared.values():
            for view in {*shared.by_ufrag.values(), *shared.by_address.values()}:
                view.close()
            shared.transport.close()
        for address, sock in self._sockets.items():
            if address not in self._shared:
                sock.close()
        self._shared.clear()
        self._sockets.clear()

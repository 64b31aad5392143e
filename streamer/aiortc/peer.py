"""Peer connections the server creates: no STUN/TURN servers, the streamer's own host
addresses, remote candidates filtered."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from directlive.errors import BadRequest, PayloadTooLarge
from streamer.aiortc.ice import HostAddresses
from streamer.aiortc.interop import bundle_every_mid
from streamer.aiortc.udp_mux import UdpMux

log = logging.getLogger("directlive.streamer")

MAX_SDP_BYTES = 64 * 1024


class PeerConnection(RTCPeerConnection):
    """An ``RTCPeerConnection`` whose ICE connections gather on ``host_addresses``."""

    def __init__(self, configuration: RTCConfiguration, host_addresses: HostAddresses) -> None:
        super().__init__(configuration)
        self.host_addresses = host_addresses

    async def _RTCPeerConnection__gather(self) -> None:
        # aiortc's __gather, which setLocalDescription awaits: each new ICE transport's
        # connection learns our addresses first.
        transports: Any = getattr(self, "_RTCPeerConnection__iceTransports")  # noqa: B009
        for transport in transports:
            self.host_addresses.apply(transport.iceGatherer._connection)
        await super()._RTCPeerConnection__gather()  # type: ignore[misc]


def new_peer_connection(
    host_addresses: HostAddresses, udp_mux: UdpMux | None = None
) -> PeerConnection:
    """A peer connection offering ``host_addresses``; ``iceServers=[]`` because aiortc
    otherwise defaults to a public STUN server, which an offline loopback server must never
    contact. With ``udp_mux`` its ICE shares the process's UDP port."""
    pc = PeerConnection(RTCConfiguration(iceServers=[]), host_addresses)
    if udp_mux is not None:
        udp_mux.adopt(pc)
    return pc


def parse_offer(sdp: str, host_addresses: HostAddresses) -> RTCSessionDescription:
    """Check the shape of an SDP offer before aiortc sees it."""
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise PayloadTooLarge(f"SDP offer over {MAX_SDP_BYTES} bytes")
    if not sdp.startswith("v=0") or "\nm=" not in sdp:
        raise BadRequest("body is not an SDP offer (expected v=0 and m= lines)", code="bad_sdp")
    return RTCSessionDescription(sdp=host_addresses.filter_remote_candidates(sdp), type="offer")


async def apply_offer(pc: PeerConnection, sdp: str) -> None:
    """``setRemoteDescription`` of a client's offer, checked first."""
    await apply_remote(pc, parse_offer(sdp, pc.host_addresses))
    bundle_every_mid(pc)


async def apply_remote(pc: RTCPeerConnection, description: RTCSessionDescription) -> None:
    """``setRemoteDescription``, turning aiortc's parse errors into ``BadRequest``."""
    try:
        await pc.setRemoteDescription(description)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BadRequest(f"malformed SDP {description.type}: {exc}", code="bad_sdp") from exc
    except Exception as exc:  # aiortc raises its own OperationError/InvalidStateError
        if type(exc).__module__.startswith("aiortc"):
            raise BadRequest(f"unusable SDP {description.type}: {exc}", code="bad_sdp") from exc
        raise


async def make_answer(pc: RTCPeerConnection) -> str:
    """Create and apply the answer; aiortc gathers every local candidate before returning."""
    answer = await pc.createAnswer()
    await pc.setLocalDescription(answer)
    description = pc.localDescription
    assert description is not None
    return str(description.sdp)


async def add_remote_candidate(pc: PeerConnection, candidate: str, sdp_mid: str | None) -> None:
    """Trickle ICE from the client; an empty candidate means end-of-candidates."""
    if not candidate:
        return
    line = candidate.removeprefix("a=").removeprefix("candidate:")
    try:
        parsed = candidate_from_sdp(line)
    except (ValueError, IndexError, AssertionError) as exc:  # aiortc asserts on short lines
        raise BadRequest(f"malformed ICE candidate: {candidate!r}", code="bad_candidate") from exc
    if not pc.host_addresses.remote_candidate_allowed(f"a=candidate:{line}"):
        return
    parsed.sdpMid = sdp_mid
    if sdp_mid is None:
        parsed.sdpMLineIndex = 0
    await pc.addIceCandidate(parsed)


async def close_quietly(pc: RTCPeerConnection) -> None:
    try:
        await asyncio.wait_for(pc.close(), timeout=5)
    except (TimeoutError, ConnectionError, RuntimeError) as exc:
        log.warning("closing peer connection failed: %r", exc)

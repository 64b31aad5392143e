"""Which local addresses ICE offers, and which remote candidates it will try, per connection.

aioice never offers 127.0.0.1 (``aioice.ice.get_host_addresses`` skips it), so on a
loopback-only host nothing connects unless the server offers it. ``HostAddresses`` is each
streamer's choice (``--ice-address``): a fixed list, or aioice's own list plus loopback. It
is applied to each peer connection's own ICE connections when they gather (nothing is
replaced process-wide). With a loopback-only list, remote candidates on other addresses are
dropped from offers too, so no connectivity check ever leaves the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import Any

import aioice.ice


class HostAddresses:
    """The host candidate addresses one streamer's peer connections offer."""

    def __init__(self, addresses: Sequence[str] = ()) -> None:
        self.fixed = tuple(str(ipaddress.ip_address(address)) for address in addresses)
        """``--ice-address`` values; empty: aioice's choice plus 127.0.0.1."""
        self.loopback_only = bool(self.fixed) and all(
            ipaddress.ip_address(a).is_loopback for a in self.fixed
        )

    def choose(self, use_ipv4: bool, use_ipv6: bool) -> list[str]:
        chosen = self.fixed or (
            "127.0.0.1",
            *aioice.ice.get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6),
        )
        return [
            a
            for a in dict.fromkeys(chosen)
            if (use_ipv4 and ipaddress.ip_address(a).version == 4)
            or (use_ipv6 and ipaddress.ip_address(a).version == 6)
        ]

    def apply(self, connection: aioice.ice.Connection) -> None:
        """Have ``connection`` gather its host candidates on these addresses."""
        handle: Any = connection

        async def gather_candidates() -> None:
            if handle._local_candidates_start:
                return
            handle._local_candidates_start = True
            addresses = self.choose(handle._use_ipv4, handle._use_ipv6)
            found = await asyncio.gather(
                *(
                    connection.get_component_candidates(component=component, addresses=addresses)
                    for component in handle._components
                )
            )
            for candidates in found:
                handle._local_candidates += candidates
            handle._local_candidates_end = True

        handle.gather_candidates = gather_candidates

    def remote_candidate_allowed(self, candidate_line: str) -> bool:
        """Whether to keep an ``a=candidate`` line (or bare candidate) from a remote peer."""
        if not self.loopback_only:
            return True
        parts = candidate_line.split()
        if len(parts) < 6:
            return False
        try:
            return ipaddress.ip_address(parts[4]).is_loopback
        except ValueError:
            return False  # mDNS .local names cannot be resolved here anyway

    def filter_remote_candidates(self, sdp: str) -> str:
        """Drop the SDP's candidates that ``remote_candidate_allowed`` refuses."""
        if not self.loopback_only:
            return sdp
        lines = [
            line
            for line in sdp.splitlines()
            if not line.startswith("a=candidate:") or self.remote_candidate_allowed(line)
        ]
        return "\r\n".join(lines) + "\r\n"


LOOPBACK = HostAddresses(["127.0.0.1"])
"""Loopback only: tests, benchmarks and the demo broadcaster on one machine."""

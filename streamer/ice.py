"""Which local addresses ICE offers, and which remote candidates it will try.

aioice never offers 127.0.0.1 (``aioice.ice.get_host_addresses`` skips it), so on a
loopback-only host nothing connects unless the server offers it. ``configure_host_addresses``
replaces that function process-wide: either a fixed list (``--ice-address``), or aioice's
own list plus loopback. With a loopback-only list, remote candidates on other addresses are
dropped from offers too, so no connectivity check ever leaves the machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import aioice.ice

_original_get_host_addresses: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
_loopback_only = False


def configure_host_addresses(addresses: Sequence[str] | None) -> None:
    """Offer exactly ``addresses`` as host candidates, or aioice's choice plus loopback."""
    global _loopback_only
    fixed = [str(ipaddress.ip_address(address)) for address in addresses or ()]
    _loopback_only = bool(fixed) and all(ipaddress.ip_address(a).is_loopback for a in fixed)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        chosen = fixed or ["127.0.0.1", *_original_get_host_addresses(use_ipv4, use_ipv6)]
        return [
            a
            for a in chosen
            if (use_ipv4 and ipaddress.ip_address(a).version == 4)
            or (use_ipv6 and ipaddress.ip_address(a).version == 6)
        ]

    aioice.ice.get_host_addresses = get_host_addresses


def remote_candidate_allowed(candidate_line: str) -> bool:
    """Whether to keep an ``a=candidate`` line (or bare candidate) from a remote peer."""
    if not _loopback_only:
        return True
    parts = candidate_line.split()
    if len(parts) < 6:
        return False
    try:
        return ipaddress.ip_address(parts[4]).is_loopback
    except ValueError:
        return False  # mDNS .local names cannot be resolved here anyway


def filter_remote_candidates(sdp: str) -> str:
    """Drop the SDP's candidates that ``remote_candidate_allowed`` refuses."""
    if not _loopback_only:
        return sdp
    lines = [
        line
        for line in sdp.splitlines()
        if not line.startswith("a=candidate:") or remote_candidate_allowed(line)
    ]
    return "\r\n".join(lines) + "\r\n"

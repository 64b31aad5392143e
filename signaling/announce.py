"""Announced addresses: the public side of a 1:1 NAT, offered beside the real host candidates.

A cloud VM listens on a private address that clients cannot reach; its provider maps a public
address onto it port for port. ``announce_candidates`` adds, for every non-loopback host
candidate of the server's SDP, one candidate per announced address of the same IP family on
the same port (the port the server really listens on, whichever socket that is). They are
``srflx`` candidates whose related address is the private one, which is what a 1:1 NAT makes
of them. The private candidates stay, for clients inside the same network.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence

from directlive.errors import BadRequest

ANNOUNCE_ENV = "DIRECTLIVE_ANNOUNCE_IP"
SRFLX_TYPE_PREFERENCE = 100
"""RFC 8445 section 5.1.2.2's recommended type preference for server-reflexive candidates."""


def parse_announce_addresses(values: Iterable[str]) -> tuple[str, ...]:
    """Normalised IP literals; ``BadRequest`` (``bad_announce_ip``) for anything else."""
    addresses: list[str] = []
    for value in values:
        try:
            address = str(ipaddress.ip_address(value.strip()))
        except ValueError as exc:
            raise BadRequest(
                f"announce address {value!r} is not an IP address", code="bad_announce_ip"
            ) from exc
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def announce_addresses_from_env() -> tuple[str, ...]:
    """``DIRECTLIVE_ANNOUNCE_IP``: addresses separated by commas or spaces."""
    raw = os.environ.get(ANNOUNCE_ENV, "")
    return parse_announce_addresses(v for v in raw.replace(",", " ").split() if v)


def _announced_line(fields: list[str], address: str) -> str:
    foundation, component, transport, _priority, private, port = fields[:6]
    priority = (SRFLX_TYPE_PREFERENCE << 24) + (65535 << 8) + (256 - int(component))
    return (
        f"a=candidate:{foundation}a {component} {transport} {priority} {address} {port}"
        f" typ srflx raddr {private} rport {port}"
    )


def _announced_for(line: str, addresses: Sequence[str]) -> list[str]:
    fields = line.removeprefix("a=candidate:").split()
    if len(fields) < 8 or fields[6] != "typ" or fields[7] != "host":
        return []
    if not fields[1].isdecimal() or not fields[5].isdecimal():
        return []
    try:
        private = ipaddress.ip_address(fields[4])
    except ValueError:
        return []
    if private.is_loopback or private.is_link_local:
        return []
    return [
        _announced_line(fields, address)
        for address in addresses
        if ipaddress.ip_address(address).version == private.version and str(private) != address
    ]


def announce_candidates(sdp: str, addresses: Sequence[str]) -> str:
    """``sdp`` (the server's answer or offer) with the announced candidates added after
    the host candidates they mirror; unchanged when ``addresses`` is empty."""
    if not addresses:
        return sdp
    lines: list[str] = []
    for line in sdp.splitlines():
        lines.append(line)
        if line.startswith("a=candidate:"):
            lines.extend(_announced_for(line, addresses))
    return "\r\n".join(lines) + "\r\n"

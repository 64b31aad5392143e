"""Free consecutive UDP ports for servers under test (``--udp-port``)."""

from __future__ import annotations

import contextlib
import random
import socket

LOW, HIGH = 20_000, 32_000
"""Below Linux's ephemeral range (32768-60999), which aioice's own sockets draw from."""


def free_udp_ports(count: int, host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive UDP ports free on ``host`` just now."""
    for _ in range(200):
        base = random.randrange(LOW, HIGH - count)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    sock.bind((host, port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {count} consecutive free UDP ports")

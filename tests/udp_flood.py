"""``python -m tests.udp_flood PORT[,PORT...] COUNT RATE``: sends COUNT datagrams to the
given loopback UDP ports at about RATE per second, then prints how many the kernel took.

Half are random junk (any first byte, so RTP-, DTLS- and STUN-looking ones too), half STUN
Binding requests naming random ufrags, from 8 source ports. A process of its own, so that the
flood does not compete with the test's event loop for the GIL."""

from __future__ import annotations

import os
import random
import socket
import sys
import time
from contextlib import suppress

from aioice import stun

POOL = 4096
BURST = 200


def binding_request() -> bytes:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{os.urandom(6).hex()}:{os.urandom(2).hex()}"
    request.attributes["PRIORITY"] = 1
    request.add_message_integrity(os.urandom(16))
    return bytes(request)


def main() -> None:
    ports = [int(port) for port in sys.argv[1].split(",")]
    count, rate = int(sys.argv[2]), float(sys.argv[3])
    pool = [
        binding_request() if index % 2 == 0 else os.urandom(random.randrange(1, 1200))
        for index in range(POOL)
    ]
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    sent = 0
    started = time.monotonic()
    for index in range(count):
        with suppress(BlockingIOError):
            sockets[index % 8].sendto(pool[index % POOL], ("127.0.0.1", ports[index % len(ports)]))
            sent += 1
        if index % BURST == BURST - 1:
            time.sleep(max(0.0, started + (index + 1) / rate - time.monotonic()))
    print(sent, flush=True)


if __name__ == "__main__":
    main()

"""A socket that stops reading is dropped with a bounded outbox; the others get everything."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pytest

from fanout import RoomConfig
from signaling.appkeys import HUB, LIVES
from signaling.hub import Connection
from tests.media.peers import wait_for
from tests.server import RunningServer, go_live, running_server, server_config
from tests.test_cobroadcast import sign_in
from tests.test_live_room import comments_seen, in_room

OUTBOX = 32
COMMENTS = 2000


@pytest.fixture
async def busy_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    room = RoomConfig(comments_per_window=100_000, comment_limit=4000)
    config = replace(server_config(tmp_path), room=room, socket_outbox_limit=OUTBOX)
    async with running_server(config) as running:
        yield running


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 65536
    header = b"\x81" + (bytes([0x80 | len(payload)]) if len(payload) < 126 else b"\xfe")
    if len(payload) >= 126:
        header += struct.pack("!H", len(payload))
    return header + mask + masked


def stalled_client(url: str, token: str, live_id: str) -> socket.socket:
    """A WebSocket client with a tiny receive window that joins a room, then never reads."""
    parsed = urlparse(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.settimeout(10)
    sock.connect((parsed.hostname, parsed.port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {parsed.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.sendall(masked_text_frame(json.dumps({"type": "room.join", "live_id": live_id})))
    return sock


async def test_a_stalled_socket_is_dropped_and_does_not_delay_the_others(
    busy_server: RunningServer,
) -> None:
    server = busy_server
    await sign_in(server, "alice", "bob", "carol", "sloth")
    live_id, host_pc = await go_live(server, "alice")
    alice = await server.socket("alice")
    bob, carol = await in_room(server, "bob", live_id), await in_room(server, "carol", live_id)
    sloth = await asyncio.to_thread(
        stalled_client, server.url, server.tokens.mint("sloth"), live_id
    )
    hub = server.app[HUB]
    await wait_for(lambda: bool(hub.of("sloth")), 5, "the stalled socket to register")
    stalled: Connection = next(iter(hub.of("sloth")))
    room = server.app[LIVES].room
    await wait_for(
        lambda: stalled in room.connections(live_id), 5, "the stalled socket in the room"
    )
    most_queued = 0
    try:
        for n in range(COMMENTS):
            text = base64.b64encode(os.urandom(2900)).decode()  # incompressible on the wire
            reply = await alice.request(
                {"type": "comment", "live_id": live_id, "text": f"{n} {text}"}
            )
            assert reply["type"] == "comment.ok", reply
            most_queued = max(most_queued, stalled.queued)
        await wait_for(
            lambda: len(comments_seen(bob)) == COMMENTS and len(comments_seen(carol)) == COMMENTS,
            30,
            "every comment at the readers",
        )
        assert stalled.dropped, "the stalled socket should have been dropped"
        assert most_queued <= OUTBOX
        await wait_for(lambda: not hub.of("sloth"), 15, "the stalled socket to be released")
        assert hub.overflow_drops == 1
        assert server.app[LIVES].room.events_queued >= 3 * COMMENTS
    finally:
        sloth.close()
        for socket_client in (alice, bob, carol):
            await socket_client.close()
        await host_pc.close()

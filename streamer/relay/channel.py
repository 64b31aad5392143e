"""One relay link's message stream over a WebSocket: msgpack values, each sealed on its own.

Sending never blocks the caller (frames come from a source's synchronous fan-out): values are
packed, sealed and queued, and one writer task drains the queue onto the socket. The queue is
bounded in bytes; ``backlog`` lets the sender drop video to the next keyframe when the network
falls behind, as a worker feed does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import aiohttp
import msgpack
from aiohttp import web

from streamer.relay.cipher import LinkCipher, LinkRefused

log = logging.getLogger("directlive.streamer")

Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""A source's GOP travels in one message when the link opens: a few MB at most."""
HEARTBEAT_SECONDS = 5.0
"""WebSocket ping period on both ends: a peer that vanishes without closing (a network
partition rather than a dead process) ends the link within about this long."""


class ChannelClosed(Exception):
    """The link's socket closed, or the other side sent something that is not ours."""


class RelayChannel:
    """Sealed msgpack values both ways on one WebSocket."""

    def __init__(self, socket: Socket, cipher: LinkCipher) -> None:
        self._socket = socket
        self._cipher = cipher
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._writer = asyncio.ensure_future(self._write())

    @property
    def backlog(self) -> int:
        """Bytes queued and not yet written to the socket."""
        return self._queued_bytes

    @property
    def open(self) -> bool:
        return not self._closing and not self._socket.closed

    def send(self, value: object) -> bool:
        """Queue one value; False when the link is closing."""
        if not self.open:
            return False
        sealed = self._cipher.seal(msgpack.packb(value))
        self._queue.append(sealed)
        self._queued_bytes += len(sealed)
        self._wakeup.set()
        return True

    async def receive(self) -> Any:
        """The next value from the other side; ``ChannelClosed`` once the link is over."""
        message = await self._socket.receive()
        if message.type != aiohttp.WSMsgType.BINARY:
            raise ChannelClosed(f"relay link: {message.type.name}")
        try:
            return msgpack.unpackb(self._cipher.open(message.data))
        except LinkRefused as exc:
            raise ChannelClosed(str(exc)) from exc
        except (ValueError, msgpack.UnpackException) as exc:
            raise ChannelClosed("relay link: not msgpack") from exc

    async def _write(self) -> None:
        try:
            while True:
                while self._queue:
                    data = self._queue.popleft()
                    self._queued_bytes -= len(data)
                    await self._socket.send_bytes(data)
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
        except Exception as exc:  # the socket broke: the reader sees it too and ends the link
            log.info("relay link: writing failed: %r", exc)
            self._closing = True

    async def close(self, flush: float = 1.0) -> None:
        """Write what is queued (for at most ``flush`` seconds), then close the socket."""
        self._closing = True
        self._wakeup.set()
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(self._writer), flush)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer
        with contextlib.suppress(Exception):
            await self._socket.close()

"""Open signaling sockets by user, each with a bounded outbox and its own writer task.

A socket that cannot keep up never slows the others: when its outbox is full it is told
(``outbox_overflow`` close code) and dropped, instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping

from aiohttp import web

log = logging.getLogger("directlive.signaling")

CLOSE_OUTBOX_OVERFLOW = 4008
Event = Mapping[str, object]


class Connection:
    """One open socket of one user."""

    _ids = itertools.count(1)

    def __init__(self, user: str, ws: web.WebSocketResponse, outbox_limit: int) -> None:
        self.id = next(self._ids)
        self.user = user
        self.ws = ws
        self.dropped = False
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(maxsize=outbox_limit)
        self._writer = asyncio.ensure_future(self._write())
        self._closing: asyncio.Future[bool] | None = None

    def send(self, message: Event) -> bool:
        """Queue a message; ``False`` (and the socket is dropped) if the outbox is full."""
        if self.dropped:
            return False
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            log.warning("socket outbox overflow user=%s conn=%d: dropping", self.user, self.id)
            self._writer.cancel()
            self._closing = asyncio.ensure_future(
                self.ws.close(code=CLOSE_OUTBOX_OVERFLOW, message=b"outbox_overflow")
            )
            return False
        return True

    @property
    def queued(self) -> int:
        return self._outbox.qsize()

    async def _write(self) -> None:
        try:
            while True:
                message = await self._outbox.get()
                await self.ws.send_json(message)
        except (ConnectionError, RuntimeError):
            pass

    async def close(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class Hub:
    """Delivers events to every open socket of a user on this node."""

    def __init__(self) -> None:
        self._by_user: dict[str, set[Connection]] = {}

    def add(self, connection: Connection) -> bool:
        """Register; ``True`` when it is the user's first socket here."""
        connections = self._by_user.setdefault(connection.user, set())
        connections.add(connection)
        return len(connections) == 1

    def remove(self, connection: Connection) -> bool:
        """Unregister; ``True`` when the user has no socket left here."""
        connections = self._by_user.get(connection.user)
        if connections is None:
            return False
        connections.discard(connection)
        if connections:
            return False
        del self._by_user[connection.user]
        return True

    def deliver(self, user: str, event: Event) -> None:
        for connection in list(self._by_user.get(user, ())):
            connection.send(event)

    def online(self, user: str) -> bool:
        return user in self._by_user

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_user.values() for c in conns]

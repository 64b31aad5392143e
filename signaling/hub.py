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
DROP_GRACE = 2.0
"""Seconds a dropped socket gets to take its close frame before the connection is cut."""
Event = Mapping[str, object]


class Connection:
    """One open socket of one user."""

    _ids = itertools.count(1)

    def __init__(
        self,
        user: str,
        ws: web.WebSocketResponse,
        outbox_limit: int,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.id = next(self._ids)
        self.user = user
        self.ws = ws
        self._transport = transport
        self.dropped = False
        self.sent = 0
        """Messages written to the socket."""
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(maxsize=outbox_limit)
        self._writer = asyncio.ensure_future(self._write())
        self._closing: asyncio.Future[None] | None = None

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
            self._closing = asyncio.ensure_future(self._drop())
            return False
        return True

    async def _drop(self) -> None:
        """Tell the client why (close code 4008) if it reads at all, else cut it off."""
        close = asyncio.ensure_future(
            self.ws.close(code=CLOSE_OUTBOX_OVERFLOW, message=b"outbox_overflow")
        )
        close.add_done_callback(_ignore_outcome)
        # aiohttp's close() does not yield to cancellation while it drains: don't wait on it.
        await asyncio.wait({close}, timeout=DROP_GRACE)
        if self._transport is not None:
            self._transport.abort()  # also when close() left it "closing" with a full buffer

    @property
    def queued(self) -> int:
        return self._outbox.qsize()

    async def _write(self) -> None:
        try:
            while True:
                message = await self._outbox.get()
                await self.ws.send_json(message)
                self.sent += 1
        except (ConnectionError, RuntimeError):
            pass

    async def close(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


def _ignore_outcome(task: asyncio.Future[bool]) -> None:
    if not task.cancelled():
        task.exception()


class Hub:
    """Delivers events to every open socket of a user on this node."""

    def __init__(self) -> None:
        self._by_user: dict[str, set[Connection]] = {}
        self.overflow_drops = 0
        """Sockets dropped because they stopped reading (for ``/metrics``)."""

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
        if connection.dropped:
            self.overflow_drops += 1
        if connections:
            return False
        del self._by_user[connection.user]
        return True

    def deliver(self, user: str, event: Event) -> None:
        for connection in list(self._by_user.get(user, ())):
            connection.send(event)

    def of(self, user: str) -> set[Connection]:
        """The user's open sockets on this node."""
        return self._by_user.get(user, set())

    def online(self, user: str) -> bool:
        return user in self._by_user

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_user.values() for c in conns]

"""Delivers a live room's events to everyone in it, and batches viewer counts.

In the room: every socket of the host and the guests, and every socket that joined the room
(``watch`` over the socket joins it; a WHEP viewer sends ``room.join``). Delivery is local
(media and rooms of a live are on its origin node): no store round trip per event, and each
socket's bounded outbox means a slow one never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from directlive.errors import NotFound
from signaling.hub import Connection, Hub
from streamer import Streamer

log = logging.getLogger("directlive.signaling")

COUNT_INTERVAL = 1.0
"""Seconds between viewer-count updates: one event per interval, however many joins."""


class RoomEvents:
    def __init__(
        self,
        streamer: Streamer,
        hub: Hub,
        on_count: Callable[[str, int], Awaitable[None]],
        count_interval: float = COUNT_INTERVAL,
    ) -> None:
        self._on_count = on_count
        self._streamer = streamer
        self._hub = hub
        self._rooms: dict[str, set[Connection]] = {}
        self._dirty: set[str] = set()
        self._last_counts: dict[str, int] = {}
        self._interval = count_interval
        self.events_queued = 0
        """Room events queued on sockets, one per socket per event (for ``/metrics``)."""
        self._ticker: asyncio.Task[None] | None = None

    def join(self, live_id: str, connection: Connection) -> None:
        self._rooms.setdefault(live_id, set()).add(connection)

    def leave(self, live_id: str, connection: Connection) -> None:
        members = self._rooms.get(live_id)
        if members is not None:
            members.discard(connection)
            if not members:
                del self._rooms[live_id]

    def drop_connection(self, connection: Connection) -> None:
        for live_id in [live_id for live_id, m in self._rooms.items() if connection in m]:
            self.leave(live_id, connection)

    def close_room(self, live_id: str) -> None:
        self._rooms.pop(live_id, None)
        self._dirty.discard(live_id)
        self._last_counts.pop(live_id, None)

    def connections(self, live_id: str) -> set[Connection]:
        """Everyone in the room: joined sockets plus every socket of each participant."""
        members = set(self._rooms.get(live_id, ()))
        try:
            participants = self._streamer.participants(live_id)
        except NotFound:
            participants = []
        for user in participants:
            members.update(self._hub.of(user))
        return members

    def send(self, live_id: str, event: Mapping[str, object]) -> int:
        """Queue ``event`` on every socket in the room; returns how many."""
        members = self.connections(live_id)
        for connection in members:
            connection.send(event)
        self.events_queued += len(members)
        return len(members)

    def send_to_user(self, user: str, event: Mapping[str, object]) -> None:
        self._hub.deliver(user, event)

    def viewers_changed(self, live_id: str) -> None:
        self._dirty.add(live_id)

    def start(self) -> None:
        self._ticker = asyncio.ensure_future(self._tick())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            dirty, self._dirty = self._dirty, set()
            for live_id in dirty:
                count = self._publish_count(live_id)
                if count is not None:
                    try:
                        await self._on_count(live_id, count)
                    except Exception:
                        log.exception("recording the viewer count failed live=%s", live_id)

    def _publish_count(self, live_id: str) -> int | None:
        """Send the count if it changed since the last tick; returns it then."""
        try:
            host = self._streamer.host_of(live_id)
            viewers = self._streamer.viewer_users(live_id)
        except NotFound:
            return None
        if self._last_counts.get(live_id) == len(viewers):
            return None
        self._last_counts[live_id] = len(viewers)
        event = {"type": "live.viewers", "live_id": live_id, "count": len(viewers)}
        host_sockets = set(self._hub.of(host))
        for connection in self.connections(live_id) - host_sockets:
            connection.send(event)
        for connection in host_sockets:
            connection.send({**event, "viewers": viewers})
        self.events_queued += len(self.connections(live_id) | host_sockets)
        return len(viewers)

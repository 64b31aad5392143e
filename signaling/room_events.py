"""Delivers a live room's events to everyone in it, and tallies viewer counts.

In the room: every socket of the host and the guests, and every socket that joined the room
(``watch`` over the socket joins it; a WHEP viewer sends ``room.join``), on whichever node.
An event is published once to the live's room (``fanout.room_delivery``); each node with
sockets in the room, or holding the live's media, receives it and queues it on its own
sockets, whose bounded outboxes mean a slow one never delays the others. With the memory
store the publish is a direct hand-over on this one node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from directlive.errors import NotFound
from fanout.room_delivery import RoomBroadcast, RoomDelivery
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
        delivery: RoomDelivery,
        node_id: str,
        on_count: Callable[[str, int], Awaitable[None]],
        notify: Callable[[Iterable[str], Mapping[str, object]], Awaitable[None]],
        count_interval: float = COUNT_INTERVAL,
    ) -> None:
        self._on_count = on_count
        self._notify = notify
        self._streamer = streamer
        self._hub = hub
        self._delivery = delivery
        self._node = node_id
        self._rooms: dict[str, set[Connection]] = {}
        self._hosted: set[str] = set()
        """Lives whose media is on this node: the room is received here for its participants."""
        self._subscribed: set[str] = set()
        self._subscribing = asyncio.Lock()
        self._dirty: set[str] = set()
        self._tallied: set[str] = set()
        """Lives this node reports viewers of every interval (shared delivery only)."""
        self._interval = count_interval
        self.events_queued = 0
        """Room events queued on sockets, one per socket per event (for ``/metrics``)."""
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- membership ------------------------------------------------------------------------
    async def open_room(self, live_id: str) -> None:
        """The live's media is here: its participants' sockets receive the room."""
        self._hosted.add(live_id)
        await self._sync_subscription(live_id)
        await self.participants_changed(live_id)

    async def participants_changed(self, live_id: str) -> None:
        """Record who publishes (the media is here) for nodes that hold none of it."""
        try:
            participants = self._streamer.participants(live_id)
            await self._delivery.record_publishing(live_id, participants)
        except NotFound:
            return
        except Exception:  # the record is a convenience for other nodes' room views
            log.exception("recording the participants failed live=%s", live_id)

    async def join(self, live_id: str, connection: Connection) -> None:
        self._rooms.setdefault(live_id, set()).add(connection)
        try:
            await self._sync_subscription(live_id)
        except BaseException:
            self.leave(live_id, connection)  # not in a room this node cannot hear
            raise

    def leave(self, live_id: str, connection: Connection) -> None:
        """The room's subscription here is dropped at the next tick if nobody is left."""
        members = self._rooms.get(live_id)
        if members is not None:
            members.discard(connection)
            if not members:
                del self._rooms[live_id]

    def drop_connection(self, connection: Connection) -> None:
        for live_id in [live_id for live_id, m in self._rooms.items() if connection in m]:
            self.leave(live_id, connection)

    async def close_room(self, live_id: str) -> None:
        """The live ended: forget its room here (its sockets are told by ``live.ended``)."""
        self._rooms.pop(live_id, None)
        self._hosted.discard(live_id)
        self._dirty.discard(live_id)
        self._tallied.discard(live_id)
        await self._sync_subscription(live_id)

    async def presence(self, live_id: str, viewers: bool) -> tuple[list[str], list[str]]:
        """Who publishes, and (``viewers``) who watches, on every node: what this node serves
        now with the other nodes' reports (at most a report interval old)."""
        try:
            publishing: list[str] | None = self._streamer.participants(live_id)
            here = self._streamer.viewer_users(live_id)
        except NotFound:  # neither the origin nor an edge of this live
            publishing, here = None, []
        if publishing is not None and not viewers:
            return publishing, []
        reported = await self._delivery.presence(live_id)
        if publishing is None:
            publishing = list(reported.publishing or ())
        return publishing, sorted(set(here).union(reported.viewers)) if viewers else []

    def members(self, live_id: str) -> set[Connection]:
        """Sockets that joined the room on this node (participants' sockets aside)."""
        return set(self._rooms.get(live_id, ()))

    def connections(self, live_id: str) -> set[Connection]:
        """Everyone in the room here: joined sockets plus every socket of each participant."""
        members = set(self._rooms.get(live_id, ()))
        try:
            participants = self._streamer.participants(live_id)
        except NotFound:
            participants = []
        for user in participants:
            members.update(self._hub.of(user))
        return members

    async def _sync_subscription(self, live_id: str) -> None:
        async with self._subscribing:
            wanted = live_id in self._rooms or live_id in self._hosted
            if wanted and live_id not in self._subscribed:
                await self._delivery.subscribe(live_id)
                self._subscribed.add(live_id)
            elif not wanted and live_id in self._subscribed:
                self._subscribed.discard(live_id)
                await self._delivery.unsubscribe(live_id)

    # -- events ----------------------------------------------------------------------------
    async def send(self, live_id: str, event: Mapping[str, object]) -> None:
        """Publish ``event`` to the room, on every node."""
        await self._delivery.publish(live_id, event)

    async def send_to_user(self, user: str, event: Mapping[str, object]) -> None:
        """To every socket of ``user``, on whichever node (fanout's presence-routed push)."""
        await self._notify([user], event)

    def _on_broadcast(self, broadcast: RoomBroadcast) -> None:
        live_id = broadcast.live_id
        if broadcast.event is None:
            self._spawn(self.close_room(live_id))
            return
        members = self.connections(live_id)
        if broadcast.viewers is None:
            for connection in members:
                connection.send(broadcast.event)
        else:
            with_names = {**broadcast.event, "viewers": list(broadcast.viewers)}
            for connection in members:
                is_host = connection.user == broadcast.host
                connection.send(with_names if is_host else broadcast.event)
        self.events_queued += len(members)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- viewer counts ---------------------------------------------------------------------
    def viewers_changed(self, live_id: str) -> None:
        self._dirty.add(live_id)

    async def start(self) -> None:
        await self._delivery.start(self._on_broadcast)
        self._ticker = asyncio.ensure_future(self._tick())

    async def close(self) -> None:
        for task in [self._ticker, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            dirty, self._dirty = self._dirty, set()
            if self._delivery.shared:
                self._tallied |= dirty
                dirty = set(self._tallied)
            for live_id in dirty:
                try:
                    await self._report_count(live_id)
                except Exception:
                    log.exception("reporting the viewer count failed live=%s", live_id)
            for live_id in list(self._subscribed):
                if live_id not in self._rooms and live_id not in self._hosted:
                    try:
                        await self._sync_subscription(live_id)
                    except Exception:
                        log.exception("leaving the room channel failed live=%s", live_id)

    async def _report_count(self, live_id: str) -> None:
        """Report this node's viewers; the total goes to the room when it changed."""
        try:
            viewers = self._streamer.viewer_users(live_id)
        except NotFound:  # not (or no longer) served here
            self._tallied.discard(live_id)
            if not self._delivery.shared:
                return
            viewers = []
        total = await self._delivery.report_viewers(live_id, self._node, viewers)
        if total is not None:
            await self._on_count(live_id, total)

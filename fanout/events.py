"""Pushed events, presence and cross-node re-checks of running lives.

Presence is counted per node: the store learns a user is online here on their first connection
and offline on their last. An event for many users is grouped by node: users online here get it
through the local delivery callback (every socket of theirs), every other node gets ONE bus
message carrying its list of users. The bus is at-most-once: it carries pushes only, never state.

Bus payloads: ``{"users": [...], "event": {...}}`` (deliver) and
``{"recheck": [live ids], "origin": node}`` (re-check viewers, sent to all nodes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from fanout.store import Store, Unsubscribe

log = logging.getLogger(__name__)

Event = Mapping[str, object]
Deliver = Callable[[str, Event], None]
Checker = Callable[[str, str], Awaitable[str | None]]
"""``checker(viewer, live_id)``: None if the viewer may still watch, else the refusal code."""


class LiveAudience(Protocol):
    """The media plane's view of who watches what on this node."""

    def viewers_of(self, live_id: str) -> Collection[str]: ...

    def viewer_count(self, live_id: str) -> int | None:
        """Viewers of a live served here now; ``None`` when its media is not on this node."""
        ...

    async def evict(self, live_id: str, user: str, code: str) -> None: ...


class EventHub:
    def __init__(self, store: Store, node_id: str, checker: Checker) -> None:
        self._store = store
        self._node = node_id
        self._checker = checker
        self._deliver: Deliver | None = None
        self._audience: LiveAudience | None = None
        self._connections: dict[str, int] = {}
        self._unsubscribe: Unsubscribe | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def set_local_delivery(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def set_audience(self, audience: LiveAudience) -> None:
        self._audience = audience

    async def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = await self._store.subscribe(self._node, self._on_bus)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            await self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for user in list(self._connections):
            await self._store.presence_remove(user, self._node)
        self._connections.clear()

    # -- presence ----------------------------------------------------------------------------
    async def user_online(self, user: str) -> None:
        count = self._connections.get(user, 0) + 1
        self._connections[user] = count
        if count == 1:
            await self._store.presence_add(user, self._node)

    async def user_offline(self, user: str) -> None:
        count = self._connections.get(user, 0) - 1
        if count > 0:
            self._connections[user] = count
            return
        if self._connections.pop(user, None) is not None:
            await self._store.presence_remove(user, self._node)

    def local_viewer_count(self, live_id: str) -> int | None:
        return None if self._audience is None else self._audience.viewer_count(live_id)

    def online_here(self, user: str) -> bool:
        return user in self._connections

    # -- delivery ----------------------------------------------------------------------------
    async def emit(self, users: Iterable[str], event: Event) -> None:
        recipients = list(dict.fromkeys(users))
        if recipients:
            await self.emit_located(await self._store.presence_nodes(recipients), event)

    async def emit_located(self, located: Mapping[str, Sequence[str]], event: Event) -> None:
        """Push to users whose nodes are known: local ones directly, one publish per node."""
        by_node: dict[str, list[str]] = defaultdict(list)
        for user, nodes in located.items():
            for node in nodes:
                by_node[node].append(user)
        for node, users in by_node.items():
            if node == self._node:
                self._deliver_local(users, event)
            else:
                await self._store.publish(node, {"users": users, "event": dict(event)})

    def _deliver_local(self, users: Iterable[str], event: Event) -> None:
        if self._deliver is None:
            return
        for user in users:
            if user in self._connections:
                try:
                    self._deliver(user, event)
                except Exception:
                    log.exception("local delivery to %s failed", user)

    # -- re-checks ---------------------------------------------------------------------------
    async def recheck(self, live_ids: Sequence[str]) -> None:
        """Evict viewers no longer allowed, here at once and on every other node via the bus."""
        if not live_ids:
            return
        await self._recheck_local(live_ids)
        await self._store.publish(None, {"recheck": list(live_ids), "origin": self._node})

    async def _recheck_local(self, live_ids: Sequence[str]) -> None:
        if self._audience is None:
            return
        for live_id in live_ids:
            for viewer in list(self._audience.viewers_of(live_id)):
                code = await self._checker(viewer, live_id)
                if code is not None:
                    await self._audience.evict(live_id, viewer, code)

    def _on_bus(self, payload: Mapping[str, Any]) -> None:
        if "event" in payload:
            self._deliver_local(payload.get("users", ()), payload["event"])
        elif "recheck" in payload and payload.get("origin") != self._node:
            task = asyncio.get_running_loop().create_task(self._recheck_local(payload["recheck"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

"""How a live room's events reach every node with sockets in the room: the contract and the
one-node (memory) delivery.

A room event is published ONCE per event, and every node subscribed to the live's room hands
it to its own sockets, so all sockets of the room see the same events in the same order (the
Redis delivery, ``fanout.room_delivery_redis``). With the memory store there is one node:
publishing hands the event straight to the local handler, as fast as before rooms spanned
nodes.

Viewer counts are tallied per node: each node reports the viewers it serves, the tally sums
the fresh reports, and a changed total is published to the room as one ``live.viewers``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fanout.room_models import Comment


@dataclass(frozen=True)
class RoomBroadcast:
    """One message of a live's room, as every subscribed node receives it."""

    live_id: str
    event: Mapping[str, object] | None
    """What the room's sockets get; ``None``: the live ended, drop the room here."""
    viewers: tuple[str, ...] | None = None
    """With a ``live.viewers`` event: who watches, on every node (shown to the host only)."""
    host: str | None = None
    """With a ``live.viewers`` event: the host, whose sockets get ``viewers``."""


@dataclass(frozen=True)
class RoomPresence:
    """Who publishes and who watches a live, as the other nodes reported it."""

    publishing: tuple[str, ...] | None
    """The participants whose media the origin holds; ``None``: not recorded here (one node,
    or no report yet: the node holding the media knows)."""
    viewers: tuple[str, ...]
    """Viewers on every other node than the asking one, by their fresh reports."""


RoomHandler = Callable[[RoomBroadcast], None]


def comment_event(comment: Comment) -> dict[str, object]:
    return {"type": "comment.new", **comment.to_json()}


def viewers_event(live_id: str, count: int) -> dict[str, object]:
    return {"type": "live.viewers", "live_id": live_id, "count": count}


class RoomDelivery(ABC):
    """Publishes room events and viewer tallies; hands what this node subscribed to to the
    handler given to ``start``."""

    shared: bool
    """True when other nodes receive what is published here (the viewer tally then needs a
    report from every node each interval, to keep its share fresh)."""

    @abstractmethod
    async def start(self, handler: RoomHandler) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def channel(self, live_id: str) -> str | None:
        """Where the room store announces a new comment in the same step as numbering it;
        ``None``: the caller publishes the comment."""

    @abstractmethod
    async def subscribe(self, live_id: str) -> None:
        """Receive the live's room events on this node (returns once they will arrive)."""

    @abstractmethod
    async def unsubscribe(self, live_id: str) -> None: ...

    @abstractmethod
    async def publish(self, live_id: str, event: Mapping[str, object]) -> None: ...

    @abstractmethod
    async def open_live(self, live_id: str, host: str) -> None:
        """The live started: its viewer tally may take reports (``host``'s sockets will see
        who watches)."""

    @abstractmethod
    async def close_live(self, live_id: str) -> None:
        """The live ended: delete its tally, and have every node drop its room."""

    @abstractmethod
    async def report_viewers(self, live_id: str, node: str, viewers: Sequence[str]) -> int | None:
        """This node serves ``viewers`` of the live now. Returns the total over all nodes
        when it changed (and was published to the room), else ``None``."""

    @abstractmethod
    async def record_publishing(self, live_id: str, participants: Sequence[str]) -> None:
        """The origin's participants now, for nodes that do not hold the live's media."""

    @abstractmethod
    async def presence(self, live_id: str) -> RoomPresence:
        """Who publishes, and who watches on the other nodes (this node knows its own)."""


class MemoryRoomDelivery(RoomDelivery):
    """One node: publishing is handing over at once."""

    shared = False

    def __init__(self) -> None:
        self._handler: RoomHandler | None = None
        self._hosts: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    async def start(self, handler: RoomHandler) -> None:
        self._handler = handler

    async def close(self) -> None:
        self._handler = None

    def channel(self, live_id: str) -> str | None:
        return None

    async def subscribe(self, live_id: str) -> None:
        return None

    async def unsubscribe(self, live_id: str) -> None:
        return None

    async def publish(self, live_id: str, event: Mapping[str, object]) -> None:
        if self._handler is not None:
            self._handler(RoomBroadcast(live_id, event))

    async def open_live(self, live_id: str, host: str) -> None:
        self._hosts[live_id] = host

    async def close_live(self, live_id: str) -> None:
        self._hosts.pop(live_id, None)
        self._counts.pop(live_id, None)

    async def report_viewers(self, live_id: str, node: str, viewers: Sequence[str]) -> int | None:
        host = self._hosts.get(live_id)
        if host is None or self._counts.get(live_id) == len(viewers):
            return None
        self._counts[live_id] = len(viewers)
        if self._handler is not None:
            event = viewers_event(live_id, len(viewers))
            self._handler(RoomBroadcast(live_id, event, tuple(viewers), host))
        return len(viewers)

    async def record_publishing(self, live_id: str, participants: Sequence[str]) -> None:
        return None

    async def presence(self, live_id: str) -> RoomPresence:
        return RoomPresence(None, ())

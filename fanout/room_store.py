"""Where live rooms keep their state: the contract and the in-memory store."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import defaultdict, deque

from fanout.room_models import Comment, RoomSettings

ROLES = ("requests", "invites", "bans")
"""Per-live user sets: pending join requests, host invitations, users removed by the host."""


class RoomStore(ABC):
    """Per-live room state. Every method is atomic on its own."""

    @abstractmethod
    async def settings(self, live_id: str) -> RoomSettings: ...

    @abstractmethod
    async def set_settings(self, live_id: str, settings: RoomSettings) -> None: ...

    @abstractmethod
    async def add_member(self, live_id: str, role: str, user: str) -> bool:
        """Add ``user`` to the live's ``role`` set; False if already there."""

    @abstractmethod
    async def take_member(self, live_id: str, role: str, user: str) -> bool:
        """Remove ``user`` from the set; False if absent."""

    @abstractmethod
    async def has_member(self, live_id: str, role: str, user: str) -> bool: ...

    @abstractmethod
    async def members(self, live_id: str, role: str) -> list[str]: ...

    @abstractmethod
    async def add_comment(
        self, live_id: str, user: str, text: str, at: float, keep: int, channel: str | None = None
    ) -> Comment:
        """Append with the next sequence number; keep only the latest ``keep``. With a
        ``channel`` (a shared store's room channel), publish it there in the same step."""

    @abstractmethod
    async def remove_comment(self, live_id: str, comment_id: str) -> bool: ...

    @abstractmethod
    async def recent_comments(self, live_id: str, limit: int) -> list[Comment]:
        """The latest ``limit`` comments not removed, oldest first."""

    @abstractmethod
    async def count_hit(self, key: str, window: float) -> int:
        """Count one hit for ``key`` in the current fixed window; returns the window's count."""

    async def close(self) -> None:
        return None


class MemoryRoomStore(RoomStore):
    def __init__(self) -> None:
        self._settings: dict[str, RoomSettings] = {}
        self._sets: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._comments: dict[str, deque[Comment]] = {}
        self._seq: dict[str, int] = defaultdict(int)
        self._hits: dict[float, tuple[int, dict[str, int]]] = {}
        """Per window size: the current window and its counts."""

    async def settings(self, live_id: str) -> RoomSettings:
        return self._settings.get(live_id, RoomSettings())

    async def set_settings(self, live_id: str, settings: RoomSettings) -> None:
        self._settings[live_id] = settings

    async def add_member(self, live_id: str, role: str, user: str) -> bool:
        members = self._sets[(live_id, role)]
        added = user not in members
        members.add(user)
        return added

    async def take_member(self, live_id: str, role: str, user: str) -> bool:
        members = self._sets[(live_id, role)]
        present = user in members
        members.discard(user)
        return present

    async def has_member(self, live_id: str, role: str, user: str) -> bool:
        return user in self._sets[(live_id, role)]

    async def members(self, live_id: str, role: str) -> list[str]:
        return sorted(self._sets[(live_id, role)])

    async def add_comment(
        self, live_id: str, user: str, text: str, at: float, keep: int, channel: str | None = None
    ) -> Comment:
        self._seq[live_id] += 1
        seq = self._seq[live_id]
        comment = Comment(f"{live_id}.{seq}", live_id, seq, user, text, at)
        log = self._comments.setdefault(live_id, deque(maxlen=keep))
        log.append(comment)
        return comment

    async def remove_comment(self, live_id: str, comment_id: str) -> bool:
        log = self._comments.get(live_id, deque())
        for comment in log:
            if comment.comment_id == comment_id:
                log.remove(comment)
                return True
        return False

    async def recent_comments(self, live_id: str, limit: int) -> list[Comment]:
        return list(self._comments.get(live_id, ()))[-limit:] if limit > 0 else []

    async def count_hit(self, key: str, window: float) -> int:
        current = int(time.time() // window)
        slot, hits = self._hits.get(window, (current, {}))
        if slot != current:
            hits = {}  # past windows are never read again: drop them, memory stays bounded
        hits[key] = hits.get(key, 0) + 1
        self._hits[window] = (current, hits)
        return hits[key]

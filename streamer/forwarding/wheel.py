"""One timer per event loop for every forwarder's periodic work.

aiortc runs an RTCP task per sender that wakes up every 0.5 to 1.5 s to send a sender
report, and the lane (``streamer.forwarding.lane``) checks each member twice a second: with
hundreds of viewers per worker that is hundreds of timer wake-ups and task steps a second.
``SenderWheel`` ticks every ``TICK`` seconds and calls each registered member's ``tick``
with the time; the member does whatever is due (its lane check, its sender report) in that
one pass. A member that fails is logged and dropped from the wheel alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Protocol

log = logging.getLogger("directlive.streamer")

TICK = 0.25
"""Seconds between two passes: the lateness bound of every member's periodic work."""


class WheelMember(Protocol):
    def tick(self, now: float) -> None:
        """Do what is due at ``now`` (``time.monotonic()``)."""


class SenderWheel:
    """The members of one event loop, and its one timer (running while it has members)."""

    _of_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SenderWheel] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._members: dict[WheelMember, None] = {}
        """Insertion-ordered set."""
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> SenderWheel:
        """The wheel of ``loop`` (made on first use)."""
        wheel = cls._of_loop.get(loop)
        if wheel is None:
            wheel = cls._of_loop[loop] = cls(loop)
        return wheel

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: WheelMember) -> None:
        self._members[member] = None
        if self._timer is None:
            self._timer = self._loop.call_later(TICK, self._tick)

    def discard(self, member: WheelMember) -> None:
        self._members.pop(member, None)

    def _tick(self) -> None:
        self._timer = None
        now = time.monotonic()
        for member in list(self._members):
            try:
                member.tick(now)
            except Exception:
                log.exception("a forwarder's periodic work failed; it leaves the wheel")
                self.discard(member)
        if self._members:
            self._timer = self._loop.call_later(TICK, self._tick)

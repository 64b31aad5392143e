"""Lives this node serves as an edge: pulled from their origin when a viewer comes, and
watched when the relay link drops (the origin died, restarted, or the network broke)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from directlive.errors import DirectliveError
from fanout import Fanout
from signaling.node_beacon import HEARTBEAT_PERIOD
from signaling.origin_calls import OriginCalls
from streamer import Streamer

log = logging.getLogger("directlive.signaling")

LiveAction = Callable[[str], Awaitable[None]]


class EdgeLives:
    def __init__(
        self,
        streamer: Streamer,
        fanout: Fanout,
        calls: OriginCalls,
        *,
        grace: float,
        on_origin_dead: LiveAction,
        on_ended: LiveAction,
        check_period: float = HEARTBEAT_PERIOD,
    ) -> None:
        self._streamer = streamer
        self._fanout = fanout
        self._calls = calls
        self._grace = grace
        self._on_origin_dead = on_origin_dead
        self._on_ended = on_ended
        self._check_period = check_period
        self._watches: dict[str, asyncio.Task[None]] = {}

    async def ensure_media(self, live_id: str) -> None:
        """Pull the live from its origin unless its media is here (or it has no origin: the
        media plane then answers ``live_not_found`` as for any unknown live)."""
        if self._streamer.has_media(live_id):
            return
        url = await self._calls.origin_url(live_id)
        if url is not None:
            await self._streamer.relay_from(live_id, url)

    def link_lost(self, live_id: str) -> None:
        if live_id not in self._watches:
            task = asyncio.ensure_future(self._watch(live_id))
            self._watches[live_id] = task
            task.add_done_callback(lambda _: self._watches.pop(live_id, None))

    async def _watch(self, live_id: str) -> None:
        """Reconnect while the origin's heartbeat lives; end the live for everyone once it
        stopped and the host's grace period is over (``host_connection_lost``)."""
        lost_at = time.monotonic()
        while self._streamer.is_relayed(live_id):
            try:
                if await self._check(live_id, lost_at):
                    return
            except Exception:  # the store failing now: look again at the next period
                log.exception("checking the origin of live=%s failed", live_id)
            await asyncio.sleep(self._check_period)

    async def _check(self, live_id: str, lost_at: float) -> bool:
        """One look at a live whose link dropped; True once it is settled."""
        live = await self._fanout.store.get_live(live_id)
        if live is None or live.ended:
            await self._on_ended(live_id)
            return True
        try:
            url = await self._calls.origin_url(live_id)
        except DirectliveError:
            url = None  # the origin's heartbeat stopped
        if url is not None:
            try:
                await self._streamer.relay_from(live_id, url)
            except DirectliveError as error:
                log.info("relay link still down live=%s: %s", live_id, error.code)
                return False
            log.info("relay link back live=%s", live_id)
            return True
        if time.monotonic() - lost_at < self._grace:
            return False
        log.info("origin of live=%s is gone", live_id)
        await self._on_origin_dead(live_id)
        return True

    async def close(self) -> None:
        for task in list(self._watches.values()):
            task.cancel()
        await asyncio.gather(*self._watches.values(), return_exceptions=True)
        await self._calls.close()

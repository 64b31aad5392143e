"""An edge's pull of one live from its origin: the link, reopened while the origin lives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from directlive.errors import Unavailable
from streamer.relay.channel import RelayChannel
from streamer.relay.edge import EdgeLink, RelayedMedia
from streamer.relay.stats import RelayStats

log = logging.getLogger("directlive.streamer")

Connector = Callable[[str], Awaitable[RelayChannel]]
"""Opens a channel to the origin at the given URL (``handshake.connect``, bound)."""
READY_TIMEOUT = 10.0


class RelayPull:
    """Keeps ``media`` fed from the origin; reports a link that drops (``on_lost``) or a live
    the origin says is over (``on_over``), each with the live id."""

    def __init__(
        self,
        media: RelayedMedia,
        connect: Connector,
        stats: RelayStats,
        *,
        on_sources_changed: Callable[[], None],
        on_lost: Callable[[str], None],
        on_over: Callable[[str], None],
    ) -> None:
        self.media = media
        self._connect = connect
        self._stats = stats
        self._on_sources_changed = on_sources_changed
        self._on_lost = on_lost
        self._on_over = on_over
        self._link: EdgeLink | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def open(self, origin_url: str) -> None:
        """Connect (unless connected) and return once the origin's sources are all here."""
        async with self._lock:
            if self._closed:
                raise Unavailable("the relay of this live closed", code="relay_closed")
            if not self.connected:
                await self._start(origin_url)
            link, task = self._link, self._task
        assert link is not None
        assert task is not None
        if link.ready.is_set():
            return
        ready = asyncio.ensure_future(link.ready.wait())
        try:
            await asyncio.wait(
                {ready, task}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if not link.ready.is_set():
            raise Unavailable("the live's origin did not answer", code="origin_unreachable")

    async def _start(self, origin_url: str) -> None:
        try:
            channel = await asyncio.wait_for(self._connect(origin_url), READY_TIMEOUT)
        except Exception as exc:
            log.info("relay link to %s failed live=%s: %r", origin_url, self.media.live_id, exc)
            raise Unavailable(
                "the live's origin cannot be reached", code="origin_unreachable"
            ) from exc
        self._stats.links_opened += 1
        self._link = EdgeLink(self.media, channel, self._stats, self._on_sources_changed)
        self._task = asyncio.ensure_future(self._run(self._link))
        log.info("relay link open live=%s origin=%s", self.media.live_id, origin_url)

    async def _run(self, link: EdgeLink) -> None:
        await link.run()
        if self._closed:
            return
        if link.live_over:
            self._on_over(self.media.live_id)
        elif link.ready.is_set():
            self._on_lost(self.media.live_id)

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if self._link is not None:
            await self._link.channel.close(flush=0)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.media.close()

"""A viewer session served by a media worker process, as the main process holds it."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from directlive.errors import DirectliveError
from streamer.viewer import SourceWithCodec

if TYPE_CHECKING:
    from streamer.worker_pool import SourceFeed, WorkerLink

log = logging.getLogger("directlive.streamer")


class RemoteViewerSession:
    """Same face as ``ViewerSession``; every call is a request to the session's worker,
    and the sources it watches are fed to that worker (once per worker, not per viewer)."""

    def __init__(
        self,
        *,
        session_id: str,
        live_id: str,
        user: str,
        link: WorkerLink,
        participant: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.live_id = live_id
        self.user = user
        self.participant = participant
        self.link = link
        self.feeds: list[SourceFeed] = []
        self._closed = False

    @property
    def worker_index(self) -> int:
        return self.link.index

    async def answer(self, offer_sdp: str, sources: list[SourceWithCodec]) -> str:
        keys = self._feed(sources)
        answer: str = await self.link.wire.request(
            "watch",
            session_id=self.session_id,
            live_id=self.live_id,
            user=self.user,
            participant=self.participant,
            sdp=offer_sdp,
            sources=keys,
        )
        return answer

    async def add_candidate(self, candidate: str, sdp_mid: str | None) -> None:
        await self.link.wire.request(
            "candidate", session_id=self.session_id, candidate=candidate, sdp_mid=sdp_mid
        )

    async def offer_sources(self, sources: list[SourceWithCodec]) -> str | None:
        keys = self._feed(sources)
        offer: str | None = await self.link.wire.request(
            "offer", session_id=self.session_id, sources=keys
        )
        return offer

    async def accept_answer(self, sdp: str) -> None:
        await self.link.wire.request("answer", session_id=self.session_id, sdp=sdp)

    def _feed(self, sources: list[SourceWithCodec]) -> list[int]:
        """Make sure the worker receives ``sources``; their keys on that worker."""
        keys = []
        for source, codec in sources:
            feed = self.link.open_feed(source, codec)
            if feed not in self.feeds:
                self.feeds.append(feed)
            keys.append(feed.key)
        return keys

    def release(self) -> None:
        """Forget the session here; feeds no other session on the worker reads stop."""
        self._closed = True
        self.link.sessions.pop(self.session_id, None)
        feeds, self.feeds = self.feeds, []
        for feed in feeds:
            self.link.release_feed(feed)

    async def close(self) -> None:
        if self._closed:
            return
        self.release()
        with contextlib.suppress(DirectliveError):
            await self.link.wire.request("leave", session_id=self.session_id)

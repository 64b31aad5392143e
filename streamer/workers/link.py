"""One media worker process as the main process holds it: its socket, the sources fed to
it and the viewer sessions it serves (created here, so the link owns them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from streamer.stats import ForwardingStats
from streamer.workers.feeds import Feeds
from streamer.workers.messages import (
    FeedUnwanted,
    FeedWanted,
    KeyframeWanted,
    Message,
    StatsWanted,
    ViewerLost,
)
from streamer.workers.remote_viewer import RemoteViewerSession
from streamer.workers.wire import WireProtocol

log = logging.getLogger("directlive.streamer")

STATS_TIMEOUT = 2.0

SessionLost = Callable[[RemoteViewerSession], None]


class WorkerLink:
    """One worker process: its socket, the sources fed to it and the sessions it serves."""

    def __init__(
        self,
        index: int,
        process: asyncio.subprocess.Process,
        wire: WireProtocol,
        on_session_lost: SessionLost,
    ) -> None:
        self.index = index
        self.process = process
        self.wire = wire
        self.feeds = Feeds(wire)
        self.stats = ForwardingStats()
        self._sessions: dict[str, RemoteViewerSession] = {}
        self._on_session_lost = on_session_lost

    @property
    def alive(self) -> bool:
        return self.wire.is_open

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[RemoteViewerSession]:
        return list(self._sessions.values())

    def new_session(
        self,
        *,
        session_id: str,
        live_id: str,
        user: str,
        participant: str | None,
        max_layer: int | None = None,
    ) -> RemoteViewerSession:
        """A viewer session served by this worker, counted here until it is released."""
        session = RemoteViewerSession(
            session_id=session_id,
            live_id=live_id,
            user=user,
            worker_index=self.index,
            wire=self.wire,
            feeds=self.feeds,
            on_release=self._forget,
            participant=participant,
            max_layer=max_layer,
        )
        self._sessions[session_id] = session
        return session

    def _forget(self, session: RemoteViewerSession) -> None:
        if self._sessions.get(session.session_id) is session:
            del self._sessions[session.session_id]

    async def refresh_stats(self) -> None:
        """Ask the worker for its counters (``stats`` keeps the last answer)."""
        fields = await self.wire.request(StatsWanted(), timeout=STATS_TIMEOUT)
        known = ForwardingStats.__dataclass_fields__
        self.stats = ForwardingStats(**{k: int(v) for k, v in fields.items() if k in known})

    def lose_all(self) -> list[RemoteViewerSession]:
        """The worker is gone: stop its feeds and report each of its sessions lost."""
        self.feeds.detach_all()
        sessions = self.sessions()
        for session in sessions:
            session.release()
            self._on_session_lost(session)
        return sessions

    def on_message(self, message: Message, request_id: int | None) -> None:
        if isinstance(message, KeyframeWanted):
            feed = self.feeds.get(message.key)
            if feed is not None:
                feed.source.request_keyframe()
        elif isinstance(message, FeedWanted):
            feed = self.feeds.get(message.key)
            if feed is not None:
                feed.resume(message.epoch)
        elif isinstance(message, FeedUnwanted):
            feed = self.feeds.get(message.key)
            if feed is not None:
                feed.pause()
        elif isinstance(message, ViewerLost):
            session = self._sessions.get(message.session_id)
            if session is not None:
                session.release()
                self._on_session_lost(session)
        else:
            log.warning("media worker %d: unexpected %s", self.index, message.op)

"""Lives as the product sees them: the streamer's media joined to fanout's rules and events."""

from __future__ import annotations

import contextlib
import logging

from directlive.errors import Conflict, Forbidden, NotFound
from fanout import Fanout
from signaling.hub import Hub
from streamer import Streamer, ViewerSession
from streamer.peer import add_remote_candidate

log = logging.getLogger("directlive.signaling")


class LiveService:
    """Every live operation of the API, whichever door (WHIP/WHEP or socket) it came in by.

    It is also fanout's ``LiveAudience``: fanout asks it who watches and has it evict viewers
    whose access was revoked mid-live (a block, a privacy switch, an unfollow).
    """

    def __init__(self, streamer: Streamer, fanout: Fanout, hub: Hub) -> None:
        self.streamer = streamer
        self.fanout = fanout
        self.hub = hub

    async def go_live(self, host: str, offer_sdp: str, *, whip: bool = False) -> tuple[str, str]:
        """Start a live for ``host``; returns ``(live_id, answer_sdp)``."""
        live_id = self.streamer.new_live_id()
        await self.fanout.start_live(host, live_id)
        try:
            answer = await self.streamer.publish(live_id, host, offer_sdp, whip=whip)
        except BaseException:
            await self.fanout.end_live(live_id)
            raise
        log.info("live.start live=%s user=%s", live_id, host)
        return live_id, answer

    async def end_live(self, user: str, live_id: str) -> None:
        info = await self.fanout.get_live(live_id)
        if info.host != user:
            raise Forbidden("only the host can end this live", code="not_host")
        if info.state == "ended":
            raise Conflict("this live has already ended", code="live_ended")
        await self.finish(live_id, reason="ended_by_host")

    async def finish(self, live_id: str, reason: str) -> None:
        """End a live: close its media, mark it ended, tell everyone who was in it."""
        host = None
        with contextlib.suppress(NotFound):
            host = self.streamer.get(live_id).host
        sessions = await self.streamer.end(live_id)
        told = {session.user for session in sessions}
        if host is not None:
            told.add(host)
        await self.fanout.end_live(live_id, reason=reason, also_notify=told)
        log.info("live.end live=%s reason=%s viewers=%d", live_id, reason, len(sessions))

    async def watch(
        self, viewer: str, live_id: str, offer_sdp: str, via_thread: str | None = None
    ) -> tuple[str, str]:
        """Attach ``viewer`` if fanout allows it; returns ``(session_id, answer_sdp)``."""
        await self.fanout.authorize_watch(viewer, live_id, via_thread)
        session_id, answer = await self.streamer.watch(live_id, viewer, offer_sdp)
        log.info("watch live=%s user=%s session=%s", live_id, viewer, session_id)
        await self._viewers_changed(live_id)
        return session_id, answer

    async def leave(self, viewer: str, live_id: str, session_id: str) -> None:
        session = self.streamer.session(live_id, session_id)
        if session.user != viewer:
            raise Forbidden("this viewer session is someone else's", code="not_your_session")
        await self.streamer.leave(live_id, session_id)
        await self._viewers_changed(live_id)

    async def add_candidate(
        self,
        user: str,
        live_id: str,
        session_id: str | None,
        candidate: str,
        sdp_mid: str | None,
    ) -> None:
        """Trickle ICE from a client, for its publishing or its viewing connection."""
        live = self.streamer.get(live_id)
        if session_id is None:
            publisher = live.publishers.get(user)
            if publisher is None:
                raise NotFound("you are not publishing to this live", code="session_not_found")
            pc = publisher.pc
        else:
            session = self.streamer.session(live_id, session_id)
            if session.user != user:
                raise Forbidden("this viewer session is someone else's", code="not_your_session")
            pc = session.pc
        await add_remote_candidate(pc, candidate, sdp_mid)

    async def on_live_lost(self, live_id: str) -> None:
        await self.finish(live_id, reason="host_connection_lost")

    async def on_viewer_gone(self, session: ViewerSession) -> None:
        await self._viewers_changed(session.live_id)

    async def _viewers_changed(self, live_id: str) -> None:
        try:
            live = self.streamer.get(live_id)
        except NotFound:
            return
        count = len(live.viewer_users())
        await self.fanout.set_viewer_count(live_id, count)
        self.hub.deliver(live.host, {"type": "live.viewers", "live_id": live_id, "count": count})

    # LiveAudience, for fanout's mid-live re-checks
    def viewers_of(self, live_id: str) -> list[str]:
        try:
            return self.streamer.get(live_id).viewer_users()
        except NotFound:
            return []

    async def evict(self, live_id: str, user: str, code: str) -> None:
        try:
            live = self.streamer.get(live_id)
        except NotFound:
            return
        for session in [s for s in live.viewers.values() if s.user == user]:
            await self.streamer.leave(live_id, session.session_id)
        self.hub.deliver(user, {"type": "live.evicted", "live_id": live_id, "code": code})
        log.info("evict live=%s user=%s code=%s", live_id, user, code)
        await self._viewers_changed(live_id)

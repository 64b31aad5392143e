"""Lives as the product sees them: the streamer's media joined to fanout's rules and events."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter

from directlive.errors import Conflict, DirectliveError, Forbidden, NotFound
from fanout import Fanout
from signaling.announce import announce_candidates
from signaling.cobroadcast import CoBroadcast
from signaling.edge_lives import EdgeLives
from signaling.hub import Connection, Hub
from signaling.live_recordings import LiveRecordings
from signaling.room_events import RoomEvents
from signaling.session_ids import SessionIds
from streamer import AnyViewerSession, Streamer

log = logging.getLogger("directlive.signaling")


class LiveService:
    """Every live operation of the API, whichever door (WHIP/WHEP or socket) it came in by.

    It is also fanout's ``LiveAudience``: fanout asks it who watches and has it evict viewers
    whose access was revoked mid-live (a block, a privacy switch, an unfollow).
    """

    def __init__(
        self,
        streamer: Streamer,
        fanout: Fanout,
        hub: Hub,
        max_sessions_per_viewer: int = 4,
        viewer_count_interval: float = 1.0,
        announce_addresses: tuple[str, ...] = (),
    ) -> None:
        self.announce_addresses = announce_addresses
        """Public addresses added to the server's candidates (``signaling.announce``)."""
        self.max_sessions_per_viewer = max_sessions_per_viewer
        self.streamer = streamer
        self.fanout = fanout
        self.hub = hub
        self.room = RoomEvents(
            streamer,
            hub,
            fanout.rooms.delivery,
            fanout.node_id,
            on_count=fanout.set_viewer_count,
            notify=fanout.hub.emit,
            count_interval=viewer_count_interval,
        )
        self.cobroadcast = CoBroadcast(
            streamer,
            fanout,
            self.room,
            on_guest_published=self._guest_published,
            announce_addresses=announce_addresses,
        )
        self.recordings: LiveRecordings | None = None
        self.edges: EdgeLives | None = None
        """Lives pulled from another node (``signaling.edge_lives``); None: one node."""
        self.session_ids: SessionIds | None = None
        """Mints viewer session ids naming this node (``signaling.session_ids``)."""
        self._starting: set[str] = set()
        """Hosts whose go-live is being negotiated (not yet in the streamer's lives)."""
        self._joining: Counter[tuple[str, str]] = Counter()
        """(live, user) viewer sessions being negotiated, counted against the cap."""

    async def go_live(
        self, host: str, offer_sdp: str, *, whip: bool = False, record: bool = False
    ) -> tuple[str, str]:
        """Start a live for ``host``; returns ``(live_id, answer_sdp)``.

        A host is live once at a time: a live of theirs still sending is a conflict, and one
        waiting out its grace period after a dropped connection is ended and replaced.
        """
        if host in self._starting:
            raise Conflict("you are already going live", code="already_live")
        self._starting.add(host)
        try:
            for hosted in self.streamer.lives_hosted_by(host):
                if not self.streamer.in_grace(hosted):
                    raise Conflict("you are already live", code="already_live")
                await self.finish(hosted, reason="replaced_by_new_live")
            live_id = self.streamer.new_live_id()
            # Media first: a refused offer (bad_sdp, no_media, codec_unsupported) writes nothing.
            answer = await self.streamer.publish(live_id, host, offer_sdp, whip=whip)
            try:
                await self.fanout.start_live(host, live_id)
            except BaseException:
                await self.streamer.end(live_id)
                raise
        finally:
            self._starting.discard(host)
        await self.room.open_room(live_id)
        if self.recordings is not None:
            await self.recordings.live_started(live_id, host, self.streamer, record)
        log.info("live.start live=%s user=%s", live_id, host)
        return live_id, announce_candidates(answer, self.announce_addresses)

    async def end_live(self, user: str, live_id: str) -> None:
        info = await self.fanout.get_live(live_id)
        if info.host != user:
            raise Forbidden("only the host can end this live", code="not_host")
        if info.state == "ended":
            raise Conflict("this live has already ended", code="live_ended")
        calls = self.cobroadcast.origin_calls
        if calls is not None and await self.cobroadcast.origin_elsewhere(live_id):
            await calls.end_live(live_id, user)  # the origin holds the media and the links
            return
        await self.finish(live_id, reason="ended_by_host")

    async def finish(self, live_id: str, reason: str) -> None:
        """End a live: close its media, mark it ended, tell everyone who was in it."""
        told: set[str] = set()
        with contextlib.suppress(NotFound):
            told.update(self.streamer.participants(live_id))
        told.update(c.user for c in self.room.connections(live_id))
        sessions = await self.streamer.end(live_id)
        told.update(session.user for session in sessions)
        for session in sessions:
            self.cobroadcast.forget(session.session_id)
        await self.room.close_room(live_id)
        await self.fanout.end_live(live_id, reason=reason, also_notify=told)
        if self.recordings is not None:
            await self.recordings.live_ended(live_id)
        log.info("live.end live=%s reason=%s viewers=%d", live_id, reason, len(sessions))

    async def watch(
        self,
        viewer: str,
        live_id: str,
        offer_sdp: str,
        via_thread: str | None = None,
        *,
        participant: str | None = None,
        owner: Connection | None = None,
        max_layer: int | None = None,
    ) -> tuple[str, str]:
        """Attach ``viewer`` if fanout allows it; returns ``(session_id, answer_sdp)``.

        A session negotiated over a socket (``owner``) joins the room and is renegotiated
        there when a guest comes on.
        """
        await self.fanout.authorize_watch(viewer, live_id, via_thread)
        key = (live_id, viewer)
        held = self._joining[key]
        with contextlib.suppress(NotFound):
            held += len(self.streamer.sessions_of(live_id, viewer))
        if held >= self.max_sessions_per_viewer:
            raise Conflict(
                f"at most {self.max_sessions_per_viewer} viewer sessions per live; leave one first",
                code="too_many_sessions",
            )
        self._joining[key] += 1  # sessions still negotiating count too
        try:
            if self.edges is not None:
                await self.edges.ensure_media(live_id)
            session_id, answer = await self.streamer.watch(
                live_id,
                viewer,
                offer_sdp,
                participant,
                max_layer=max_layer,
                session_id=self.session_ids.mint() if self.session_ids is not None else None,
            )
        finally:
            self._joining[key] -= 1
            if not self._joining[key]:
                del self._joining[key]
        await self._recheck_attached(viewer, live_id, session_id)
        if owner is not None:
            self.cobroadcast.own(session_id, owner)
            await self.room.join(live_id, owner)
        log.info("watch live=%s user=%s session=%s", live_id, viewer, session_id)
        self.room.viewers_changed(live_id)
        return session_id, announce_candidates(answer, self.announce_addresses)

    async def _recheck_attached(self, viewer: str, live_id: str, session_id: str) -> None:
        """A revocation while the session negotiated re-checked the viewers without it: check
        again now that it is attached (a later revocation will see it)."""
        try:
            await self.fanout.authorize_read(viewer, live_id)
        except DirectliveError:
            with contextlib.suppress(NotFound):
                await self.streamer.leave(live_id, session_id)
            raise

    async def join_room(
        self, user: str, live_id: str, connection: Connection, session_id: str | None = None
    ) -> None:
        """A socket (e.g. of a WHEP viewer) receives the live's comments and counts; with
        ``session_id``, it also takes over that viewer session of the user's (a socket viewer
        whose socket reconnected), so participant changes renegotiate it there again."""
        if session_id is not None:
            session = self.streamer.session(live_id, session_id)
            if session.user != user:
                raise Forbidden("this viewer session is someone else's", code="not_your_session")
        await self.fanout.authorize_watch(user, live_id)
        await self.room.join(live_id, connection)
        if session_id is not None:
            self.cobroadcast.adopt(live_id, session_id, connection)

    async def leave(self, viewer: str, live_id: str, session_id: str) -> None:
        session = self.streamer.session(live_id, session_id)
        if session.user != viewer:
            raise Forbidden("this viewer session is someone else's", code="not_your_session")
        await self.streamer.leave(live_id, session_id)
        self.cobroadcast.forget(session_id)
        self.room.viewers_changed(live_id)

    async def set_max_layer(
        self,
        viewer: str,
        live_id: str,
        session_id: str,
        max_layer: int | None,
        participant: str | None = None,
    ) -> None:
        """Cap the layers ``viewer``'s session gets from now on (None: no cap), of every
        picture or of ``participant``'s only (one the session is sent)."""
        session = self.streamer.session(live_id, session_id)
        if session.user != viewer:
            raise Forbidden("this viewer session is someone else's", code="not_your_session")
        if participant is not None and (
            participant not in self.streamer.participants(live_id)
            or session.participant not in (None, participant)
        ):
            raise NotFound(
                f"{participant} publishes nothing this session is sent",
                code="participant_not_found",
            )
        await session.set_max_layer(max_layer, participant)

    async def add_candidate(
        self,
        user: str,
        live_id: str,
        session_id: str | None,
        candidate: str,
        sdp_mid: str | None,
    ) -> None:
        """Trickle ICE from a client, for its publishing or its viewing connection."""
        if session_id is None:
            calls = self.cobroadcast.origin_calls
            if calls is not None and await self.cobroadcast.origin_elsewhere(live_id):
                await calls.add_guest_candidate(live_id, user, candidate, sdp_mid)
                return
            await self.streamer.add_publisher_candidate(live_id, user, candidate, sdp_mid)
            return
        session = self.streamer.session(live_id, session_id)
        if session.user != user:
            raise Forbidden("this viewer session is someone else's", code="not_your_session")
        await session.add_candidate(candidate, sdp_mid)

    async def _guest_published(self, live_id: str, user: str) -> None:
        if self.recordings is not None:
            await self.recordings.participant_published(live_id, user, self.streamer)

    async def on_live_lost(self, live_id: str) -> None:
        await self.finish(live_id, reason="host_connection_lost")

    async def on_participant_lost(self, live_id: str, user: str) -> None:
        await self.cobroadcast.participant_lost(live_id, user)

    async def on_relay_lost(self, live_id: str) -> None:
        if self.edges is not None:
            self.edges.link_lost(live_id)

    async def on_relay_over(self, live_id: str) -> None:
        """The origin ended a live this node relays: close its media and room here (the
        origin tells every user once)."""
        sessions = await self.streamer.end(live_id)
        for session in sessions:
            self.cobroadcast.forget(session.session_id)
        await self.room.close_room(live_id)
        log.info("live.end relayed live=%s viewers=%d", live_id, len(sessions))

    async def on_relay_sources_added(self, live_id: str) -> None:
        """A guest came on at the origin: socket viewers here get its tracks."""
        self.cobroadcast.renegotiate_all(live_id)

    async def on_viewer_gone(self, session: AnyViewerSession) -> None:
        self.cobroadcast.forget(session.session_id)
        self.room.viewers_changed(session.live_id)

    # LiveAudience, for fanout's mid-live re-checks and the host's moderation
    def viewers_of(self, live_id: str) -> list[str]:
        """Viewers served here and users whose sockets joined the live's room here (its
        media may be on another node)."""
        users = {c.user for c in self.room.members(live_id)}
        with contextlib.suppress(NotFound):
            users.update(self.streamer.viewer_users(live_id))
        return sorted(users)

    def viewer_count(self, live_id: str) -> int | None:
        """Viewers served here, when that is the whole count (one node)."""
        if self.fanout.rooms.delivery.shared:
            return None  # the store's count: the sum over every node, about once a second
        try:
            return len(self.streamer.viewer_users(live_id))
        except NotFound:
            return None

    async def evict(self, live_id: str, user: str, code: str) -> None:
        """End ``user``'s viewer sessions and room membership here, and tell their sockets."""
        in_room = [c for c in self.room.members(live_id) if c.user == user]
        try:
            sessions = self.streamer.sessions_of(live_id, user)
        except NotFound:  # the live's media is on another node
            if not in_room:
                return
            sessions = []
        for session in sessions:
            # Idempotent: a concurrent eviction, or the session's own close, may be first.
            with contextlib.suppress(NotFound):
                await self.streamer.leave(live_id, session.session_id)
            self.cobroadcast.forget(session.session_id)
        for connection in in_room:
            self.room.leave(live_id, connection)
        self.hub.deliver(user, {"type": "live.evicted", "live_id": live_id, "code": code})
        log.info("evict live=%s user=%s code=%s", live_id, user, code)
        self.room.viewers_changed(live_id)

    async def start(self) -> None:
        await self.room.start()

    async def close(self) -> None:
        if self.edges is not None:
            await self.edges.close()
        await self.cobroadcast.close()
        await self.room.close()

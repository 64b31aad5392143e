"""Guests beside the host: publishing, announcing them, and bringing their tracks to viewers.

Socket viewers get a new participant's tracks on their existing connection: the server
sends ``session.offer`` and applies the client's ``session.answer``. WHEP viewers learn of
the participant from ``live.participant.added`` and open ``POST /whep/{live}?participant=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from directlive.errors import Conflict, Forbidden, NotFound
from fanout import Fanout
from signaling.announce import announce_candidates
from signaling.hub import Connection
from signaling.origin_calls import OriginCalls
from signaling.room_events import RoomEvents
from streamer import Streamer

log = logging.getLogger("directlive.signaling")

CONNECT_TIMEOUT = 15.0
ANSWER_TIMEOUT = 15.0


class CoBroadcast:
    def __init__(
        self,
        streamer: Streamer,
        fanout: Fanout,
        room: RoomEvents,
        on_guest_published: Callable[[str, str], Awaitable[None]] | None = None,
        announce_addresses: tuple[str, ...] = (),
    ) -> None:
        self._announce_addresses = announce_addresses
        self._on_guest_published = on_guest_published
        self._streamer = streamer
        self._fanout = fanout
        self._room = room
        self._owners: dict[str, Connection] = {}
        self._answers: dict[str, asyncio.Future[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self.origin_calls: OriginCalls | None = None
        """Set when lives span nodes: a guest's publish on an edge goes to the origin."""

    def own(self, session_id: str, connection: Connection) -> None:
        """A viewer session negotiated over ``connection``: it can renegotiate there."""
        self._owners[session_id] = connection

    def adopt(self, live_id: str, session_id: str, connection: Connection) -> None:
        """``connection`` takes over the session (its socket reconnected): offer it the
        participants' tracks it missed meanwhile."""
        self.own(session_id, connection)
        self._spawn(self.renegotiate(live_id, session_id))

    def drop_connection(self, connection: Connection) -> None:
        """A socket closed: its sessions can no longer be renegotiated through it."""
        for session_id in [s for s, c in self._owners.items() if c is connection]:
            del self._owners[session_id]

    def forget(self, session_id: str) -> None:
        self._owners.pop(session_id, None)
        self._locks.pop(session_id, None)
        future = self._answers.pop(session_id, None)
        if future is not None and not future.done():
            future.cancel()

    async def publish_guest(self, user: str, live_id: str, offer_sdp: str, whip: bool) -> str:
        """An accepted guest starts publishing; returns the SDP answer (the origin's, when
        the live is published on another node: the guest's media goes there)."""
        await self._fanout.rooms.ensure_guest(user, live_id)
        if await self.origin_elsewhere(live_id):
            assert self.origin_calls is not None
            return await self.origin_calls.publish_guest(live_id, user, offer_sdp, whip)
        if self._streamer.is_publishing(live_id, user):
            raise Conflict("you are already publishing to this live", code="already_publishing")
        answer = await self._streamer.publish(live_id, user, offer_sdp, whip=whip)
        if self._on_guest_published is not None:
            await self._on_guest_published(live_id, user)
        self._spawn(self._announce_when_connected(live_id, user))
        return announce_candidates(answer, self._announce_addresses)

    async def _announce_when_connected(self, live_id: str, user: str) -> None:
        try:
            await asyncio.wait_for(
                self._streamer.participant_connected(live_id, user), CONNECT_TIMEOUT
            )
        except (NotFound, TimeoutError):
            log.info("guest never connected live=%s user=%s", live_id, user)
            return
        log.info("participant added live=%s user=%s", live_id, user)
        await self._room.participants_changed(live_id)
        await self._room.send(
            live_id, {"type": "live.participant.added", "live_id": live_id, "user": user}
        )
        self.renegotiate_all(live_id)

    def renegotiate_all(self, live_id: str) -> None:
        """Offer every socket session of the live the participants' tracks it lacks."""
        with contextlib.suppress(NotFound):
            for session_id in self._streamer.session_ids(live_id):
                if session_id in self._owners:
                    self._spawn(self.renegotiate(live_id, session_id))

    async def origin_elsewhere(self, live_id: str) -> bool:
        """Whether the live is published on another node (this one may relay it)."""
        if self.origin_calls is None or self._streamer.serves_origin(live_id):
            return False
        return await self.origin_calls.origin_url(live_id) is not None

    async def renegotiate(self, live_id: str, session_id: str) -> None:
        """Offer the session every participant's tracks it lacks; wait for the answer."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            connection = self._owners.get(session_id)
            if connection is None:
                return
            try:
                offer = await self._streamer.offer_missing_sources(live_id, session_id)
            except NotFound:
                return
            if offer is None:
                return
            applied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._answers[session_id] = applied
            connection.send(
                {
                    "type": "session.offer",
                    "live_id": live_id,
                    "session_id": session_id,
                    "sdp": announce_candidates(offer, self._announce_addresses),
                }
            )
            try:
                await asyncio.wait_for(applied, ANSWER_TIMEOUT)
            except TimeoutError:
                log.info("no usable answer live=%s session=%s: leaving", live_id, session_id)
                with contextlib.suppress(NotFound):
                    await self._streamer.leave(live_id, session_id)
                self.forget(session_id)
                self._room.viewers_changed(live_id)
            finally:
                self._answers.pop(session_id, None)

    async def answer(self, user: str, live_id: str, session_id: str, sdp: str) -> None:
        """The client's ``session.answer`` to our ``session.offer``, applied before the reply
        so a bad one is refused (``bad_sdp``) and can be retried until the offer expires."""
        session = self._streamer.session(live_id, session_id)
        if session.user != user:
            raise Forbidden("this viewer session is someone else's", code="not_your_session")
        applied = self._answers.get(session_id)
        if applied is None or applied.done():
            raise Conflict("no offer is waiting for an answer", code="no_pending_offer")
        await session.accept_answer(sdp)
        applied.set_result(None)

    async def remove_guest(self, actor: str, live_id: str, user: str) -> None:
        """The host removes a guest or a guest leaves; viewers keep the host."""
        if await self.origin_elsewhere(live_id):
            assert self.origin_calls is not None
            await self.origin_calls.remove_guest(live_id, actor, user)
            return
        await self._fanout.rooms.remove_guest(actor, live_id, user)
        await self._participant_gone(live_id, user, removed_by=actor if actor != user else None)

    async def participant_lost(self, live_id: str, user: str) -> None:
        """A guest's connection died."""
        with contextlib.suppress(NotFound):
            await self._fanout.rooms.remove_guest(user, live_id, user)
        await self._participant_gone(live_id, user, removed_by=None)

    async def _participant_gone(self, live_id: str, user: str, removed_by: str | None) -> None:
        with contextlib.suppress(NotFound):
            await self._streamer.remove_participant(live_id, user)
        await self._room.participants_changed(live_id)
        event = {"type": "live.participant.removed", "live_id": live_id, "user": user}
        await self._room.send(live_id, event)
        if removed_by is not None:
            await self._room.send_to_user(user, {**event, "by": removed_by})

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

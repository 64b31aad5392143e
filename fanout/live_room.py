"""A live while it runs: join requests and guests, comments, reactions, removed viewers.

Every rule of a live room is here; ``signaling`` only delivers the resulting events.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol

from directlive.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited
from fanout.models import LiveInfo
from fanout.room_delivery import RoomDelivery, comment_event
from fanout.room_models import Comment, RoomConfig, RoomSettings
from fanout.room_store import RoomStore


class LiveDirectory(Protocol):
    """What rooms need of the rest of fanout (the ``Fanout`` facade)."""

    async def get_live(self, live_id: str) -> LiveInfo: ...

    async def authorize_watch(
        self, viewer: str, live_id: str, via_thread: str | None = None
    ) -> LiveInfo: ...

    async def authorize_join(self, user: str, live_id: str) -> LiveInfo: ...

    async def authorize_read(self, viewer: str, live_id: str) -> LiveInfo: ...

    async def set_guests(self, live_id: str, guests: list[str]) -> None: ...


class LiveRooms:
    def __init__(
        self, lives: LiveDirectory, store: RoomStore, config: RoomConfig, delivery: RoomDelivery
    ) -> None:
        self._lives = lives
        self.store = store
        self.config = config
        self.delivery = delivery
        """Carries the room's events to every node with sockets in it (``comment`` publishes
        there; signaling publishes the other events)."""

    # -- co-broadcast --------------------------------------------------------------------
    async def request_join(self, user: str, live_id: str) -> Literal["requested", "accepted"]:
        """A viewer asks to join; an invited viewer is accepted at once."""
        live = await self._open_live(live_id)
        if user in live.guests:
            raise Conflict("you are already on this live", code="already_guest")
        await self._lives.authorize_join(user, live_id)
        await self._ensure_not_banned(user, live_id)
        if await self.store.take_member(live_id, "invites", user):
            await self._add_guest(live, user)
            return "accepted"
        if not (await self.store.settings(live_id)).joins:
            raise Forbidden("the host turned join requests off", code="joins_off")
        self._ensure_room_for_guest(live)
        if not await self.store.add_member(live_id, "requests", user):
            raise Conflict("you already asked to join", code="already_requested")
        return "requested"

    async def accept(self, host: str, live_id: str, user: str) -> None:
        live = await self._hosted_live(host, live_id)
        if not await self.store.has_member(live_id, "requests", user):
            raise NotFound(f"{user} has not asked to join", code="request_not_found")
        await self._lives.authorize_join(user, live_id)  # a block may have come since
        await self._add_guest(live, user)
        await self.store.take_member(live_id, "requests", user)

    async def decline(self, host: str, live_id: str, user: str) -> None:
        await self._hosted_live(host, live_id)
        if not await self.store.take_member(live_id, "requests", user):
            raise NotFound(f"{user} has not asked to join", code="request_not_found")

    async def invite(self, host: str, live_id: str, user: str) -> None:
        live = await self._hosted_live(host, live_id)
        if user in live.guests:
            raise Conflict(f"{user} is already on this live", code="already_guest")
        await self._lives.authorize_join(user, live_id)
        await self._ensure_not_banned(user, live_id)
        self._ensure_room_for_guest(live)
        await self.store.add_member(live_id, "invites", user)

    async def pending_requests(self, host: str, live_id: str) -> list[str]:
        await self._hosted_live(host, live_id)
        return await self.store.members(live_id, "requests")

    async def ensure_guest(self, user: str, live_id: str) -> LiveInfo:
        """``user`` may publish into the live now."""
        live = await self._open_live(live_id)
        if user not in live.guests:
            raise Forbidden("the host has not accepted you on this live", code="not_guest")
        return live

    async def remove_guest(self, actor: str, live_id: str, user: str) -> None:
        """The host removes a guest, or a guest leaves."""
        live = await self._lives.get_live(live_id)
        if actor not in (live.host, user):
            raise Forbidden("only the host can remove a guest", code="not_host")
        if user not in live.guests:
            raise NotFound(f"{user} is not a guest of this live", code="guest_not_found")
        await self._lives.set_guests(live_id, [g for g in live.guests if g != user])

    # -- settings and moderation ---------------------------------------------------------
    async def settings(self, live_id: str) -> RoomSettings:
        return await self.store.settings(live_id)

    async def update_settings(
        self, host: str, live_id: str, *, comments: bool | None, joins: bool | None
    ) -> RoomSettings:
        await self._hosted_live(host, live_id)
        current = await self.store.settings(live_id)
        updated = RoomSettings(
            comments=current.comments if comments is None else comments,
            joins=current.joins if joins is None else joins,
        )
        await self.store.set_settings(live_id, updated)
        return updated

    async def remove_viewer(self, host: str, live_id: str, user: str) -> None:
        """The viewer is disconnected by the caller and may not come back to this live."""
        live = await self._hosted_live(host, live_id)
        if user == host:
            raise BadRequest("the host cannot remove themself", code="self_remove")
        if user in live.guests:
            await self._lives.set_guests(live_id, [g for g in live.guests if g != user])
        await self.store.add_member(live_id, "bans", user)

    async def ensure_may_watch(self, viewer: str, live_id: str) -> None:
        await self._ensure_not_banned(viewer, live_id)

    # -- comments and reactions ----------------------------------------------------------
    async def comment(self, user: str, live_id: str, text: str) -> Comment:
        await self._ensure_in_room(user, live_id)
        text = text.strip()
        if not text:
            raise BadRequest("a comment needs text", code="empty_text")
        if len(text) > self.config.comment_limit:
            raise BadRequest(
                f"comments are at most {self.config.comment_limit} characters",
                code="text_too_long",
            )
        if not (await self.store.settings(live_id)).comments:
            live = await self._lives.get_live(live_id)
            if user != live.host:
                raise Forbidden("the host turned comments off", code="comments_off")
        await self._rate_limit(f"c:{live_id}:{user}", self.config.comments_per_window)
        channel = self.delivery.channel(live_id)
        comment = await self.store.add_comment(
            live_id, user, text, time.time(), self.config.recent_comments, channel
        )
        if channel is None:
            await self.delivery.publish(live_id, comment_event(comment))
        return comment

    async def react(self, user: str, live_id: str, kind: str) -> None:
        if kind not in self.config.reaction_kinds:
            raise BadRequest(f"unknown reaction {kind!r}", code="bad_reaction")
        await self._ensure_in_room(user, live_id)
        await self._rate_limit(f"r:{live_id}:{user}", self.config.reactions_per_window)

    async def remove_comment(self, host: str, live_id: str, comment_id: str) -> None:
        await self._hosted_live(host, live_id)
        if not await self.store.remove_comment(live_id, comment_id):
            raise NotFound("no such comment", code="comment_not_found")

    async def recent_comments(self, user: str, live_id: str, limit: int) -> list[Comment]:
        await self._ensure_in_room(user, live_id, allow_ended=True)
        return await self.store.recent_comments(live_id, min(limit, self.config.recent_comments))

    # -- helpers -------------------------------------------------------------------------
    async def _ensure_in_room(self, user: str, live_id: str, allow_ended: bool = False) -> None:
        live = await self._lives.get_live(live_id)
        if live.ended and not allow_ended:
            raise Conflict("this live has ended", code="live_ended")
        if user in live.participants:
            return
        await self._lives.authorize_read(user, live_id)

    async def _ensure_not_banned(self, user: str, live_id: str) -> None:
        if await self.store.has_member(live_id, "bans", user):
            raise Forbidden("the host removed you from this live", code="removed_by_host")

    async def _rate_limit(self, key: str, limit: int) -> None:
        if await self.store.count_hit(key, self.config.rate_window) > limit:
            raise RateLimited(
                f"at most {limit} per {self.config.rate_window:g} s; slow down",
                code="rate_limited",
            )

    async def _open_live(self, live_id: str) -> LiveInfo:
        live = await self._lives.get_live(live_id)
        if live.ended:
            raise Conflict("this live has ended", code="live_ended")
        return live

    async def _hosted_live(self, host: str, live_id: str) -> LiveInfo:
        live = await self._open_live(live_id)
        if live.host != host:
            raise Forbidden("only the host can do this", code="not_host")
        return live

    def _ensure_room_for_guest(self, live: LiveInfo) -> None:
        if len(live.guests) >= self.config.max_guests:
            raise Conflict(
                f"a live has at most {self.config.max_guests} guests", code="guests_full"
            )

    async def _add_guest(self, live: LiveInfo, user: str) -> None:
        self._ensure_room_for_guest(live)
        await self._lives.set_guests(live.live_id, [*live.guests, user])

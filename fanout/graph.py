"""The social graph: follows, follow requests, blocks, account settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from directlive.errors import Conflict, NotFound
from fanout import policy
from fanout.events import EventHub
from fanout.models import Page, Settings
from fanout.store import Store, UserList

Recheck = Callable[[list[str]], Awaitable[None]]
"""Re-check the viewers of the running lives of these hosts."""


class SocialGraph:
    def __init__(self, store: Store, hub: EventHub, recheck_hosts: Recheck) -> None:
        self._store = store
        self._hub = hub
        self._recheck_hosts = recheck_hosts

    async def follow(self, follower: str, followee: str) -> Literal["following", "requested"]:
        """Public account: follow at once. Private: a request the owner approves or declines."""
        rel = await policy.may_follow(self._store, follower, followee)
        if rel.following:
            return "following"
        if (await self._store.get_settings(followee)).private:
            if not rel.requested:
                await self._store.add_follow_request(follower, followee)
                await self._undo_if_blocked(follower, followee, "user_not_found")
            # Went public meanwhile: its approval of pending requests may have missed this one.
            if (await self._store.get_settings(followee)).private:
                if not rel.requested:
                    await self._hub.emit([followee], {"type": "follow.request", "from": follower})
                return "requested"
        await self._store.add_follow(follower, followee)
        await self._undo_if_blocked(follower, followee, "user_not_found")
        await self._hub.emit([followee], {"type": "follow.new", "from": follower})
        return "following"

    async def _undo_if_blocked(self, follower: str, followee: str, code: str) -> None:
        """A block written since the checks cut follows before this one was written: undo it.
        (A block written after this read cuts it by itself.)"""
        if (await self._store.relation(follower, followee)).blocked_either:
            await self._store.remove_follow(follower, followee)
            raise NotFound("blocked meanwhile", code=code)

    async def unfollow(self, follower: str, followee: str) -> None:
        """Drop a follow or withdraw a pending request (idempotent)."""
        await policy.require_users(self._store, [followee])
        if await self._store.remove_follow(follower, followee):
            await self._recheck_hosts([followee])

    async def approve(self, owner: str, requester: str) -> None:
        await policy.require_users(self._store, [requester])
        if not (await self._store.relation(requester, owner)).requested:
            raise NotFound(f"no follow request from {requester}", code="request_not_found")
        await self._store.add_follow(requester, owner)
        await self._undo_if_blocked(requester, owner, "request_not_found")
        await self._hub.emit([requester], {"type": "follow.approved", "by": owner})

    async def decline(self, owner: str, requester: str) -> None:
        await policy.require_users(self._store, [requester])
        if not await self._store.remove_follow_request(requester, owner):
            raise NotFound(f"no follow request from {requester}", code="request_not_found")

    async def remove_follower(self, owner: str, follower: str) -> None:
        await policy.require_users(self._store, [follower])
        if not (await self._store.relation(follower, owner)).following:
            raise NotFound(f"{follower} does not follow you", code="follower_not_found")
        await self._store.remove_follow(follower, owner)
        await self._recheck_hosts([owner])

    async def block(self, blocker: str, blocked: str) -> None:
        """Cut follows both ways and hide each side; viewers on either's lives are re-checked."""
        if blocker == blocked:
            raise Conflict("you cannot block yourself", code="self_block")
        await policy.require_users(self._store, [blocked])
        await self._store.add_block(blocker, blocked)
        await self._recheck_hosts([blocker, blocked])

    async def unblock(self, blocker: str, blocked: str) -> None:
        await policy.require_users(self._store, [blocked])
        await self._store.remove_block(blocker, blocked)

    async def update_settings(
        self, user: str, private: bool | None = None, allow_sharing: bool | None = None
    ) -> Settings:
        """Going public approves every pending request; going private re-checks live viewers."""
        old = await self._store.get_settings(user)
        new = Settings(
            private=old.private if private is None else private,
            allow_sharing=old.allow_sharing if allow_sharing is None else allow_sharing,
        )
        await self._store.set_settings(user, new)
        if old.private and not new.private:
            for follower in await self._store.approve_all_requests(user):
                await self._hub.emit([follower], {"type": "follow.approved", "by": user})
        if new.private and not old.private:
            await self._recheck_hosts([user])
        return new

    async def page(
        self, viewer: str, owner: str, which: UserList, cursor: str, limit: int
    ) -> Page[str]:
        """Followers or following of ``owner``, or (owner only) pending follow requests.
        Users with a block either way with the viewer are left out of the page."""
        await policy.may_list(self._store, viewer, owner)
        page = await self._store.page_users(owner, which, cursor, limit)
        visible = []
        for user in page.items:
            if user == viewer or not (await self._store.relation(viewer, user)).blocked_either:
                visible.append(user)
        return Page(tuple(visible), page.next_cursor)

"""Sharing a live: to chosen users (their 1:1 thread), to threads, or to all followers.

Every target is checked before anything is written, so a refused share leaves no trace. A share
is a message that references the live; its state is resolved when read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from directlive.errors import BadRequest, Forbidden
from fanout import policy
from fanout.direct import Direct
from fanout.follower_fanout import FollowerFanout
from fanout.models import DECLINED, INBOX, LiveInfo, Thread
from fanout.store import Store

MAX_TARGETS = 100


@dataclass(frozen=True)
class ShareResult:
    """What a share wrote."""

    live_id: str
    thread_ids: tuple[str, ...]
    """Threads that received a share message (a chosen user's 1:1 thread included)."""
    followers_share: str = ""
    """Share id of the all-followers fan-out job, if asked."""


class Sharing:
    def __init__(self, store: Store, direct: Direct, followers: FollowerFanout) -> None:
        self._store = store
        self._direct = direct
        self._followers = followers

    async def share(
        self,
        sharer: str,
        live: LiveInfo,
        users: Sequence[str] = (),
        threads: Sequence[str] = (),
        all_followers: bool = False,
    ) -> ShareResult:
        users = list(dict.fromkeys(users))
        threads = list(dict.fromkeys(threads))
        if not users and not threads and not all_followers:
            raise BadRequest("choose users, threads or all followers", code="no_targets")
        if len(users) + len(threads) > MAX_TARGETS:
            raise BadRequest(f"at most {MAX_TARGETS} targets per share", code="too_many_targets")
        await policy.may_share(self._store, sharer, live)
        if all_followers and sharer != live.host:
            raise Forbidden("only the host shares to all followers", code="not_host")
        await policy.require_users(self._store, users)
        for user in users:
            await policy.may_share_to(self._store, sharer, user, live)
        checked: list[Thread] = []
        for thread_id in threads:
            thread = await self._direct.thread(thread_id)
            if policy.member_state(thread, sharer) != INBOX:
                raise Forbidden("accept the message request first", code="request_pending")
            for member in thread.members:
                if member != sharer and thread.kind == "dm":
                    await policy.may_share_to(self._store, sharer, member, live)
            checked.append(thread)

        for user in users:
            checked.append(await self._direct.open_dm(sharer, user))
        targets = list(dict((t.thread_id, t) for t in checked).values())
        reached = [
            member
            for thread in targets
            for member in thread.members
            if member != sharer
            and policy.member_state(thread, member) != DECLINED
            and await policy.may_be_reached(self._store, sharer, member, live)
        ]
        # Reach first: a failure midway must not leave recipients unable to be told it ended.
        await self._store.add_reach(live.live_id, reached)
        written: list[str] = []
        for thread in targets:
            await self._direct.post(sharer, thread, "share", live_id=live.live_id)
            written.append(thread.thread_id)
        job_id = ""
        if all_followers:
            job_id = (await self._followers.start(live, sharer)).share_id
        return ShareResult(live.live_id, tuple(written), job_id)

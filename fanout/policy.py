"""The social plane's shared authorization rules: users, follows, threads, lives, shares.

Rules that belong to one service live beside it and call these for the shared facts
(``fanout.recordings.may_replay``, and the owner checks in ``direct``, ``live_room``,
``posts`` and ``sharing``).

Each ``may_*`` reads the facts it needs from the store and returns quietly or raises one of
``directlive.errors`` with a precise code. Services call these before writing anything, so a
refused request leaves no trace.

Visibility: a block hides each side from the other (``NotFound user_not_found`` on profiles,
follows and lists); for lives, shares and messages the refusal is ``Forbidden blocked``.
"""

from __future__ import annotations

from directlive.errors import BadRequest, Conflict, Forbidden, NotFound
from fanout.models import DECLINED, INBOX, REQUEST, LiveInfo, MemberState, Relation, Thread
from fanout.store import Store


async def require_users(store: Store, users: list[str]) -> None:
    missing = await store.missing_users(users)
    if missing:
        raise NotFound(f"no such user: {missing[0]}", code="user_not_found")


async def may_see_user(store: Store, viewer: str, target: str) -> Relation:
    """The target exists and no block stands between them; returns the viewer's relation."""
    await require_users(store, [target])
    rel = await store.relation(viewer, target)
    if rel.blocked_either:
        raise NotFound(f"no such user: {target}", code="user_not_found")
    return rel


async def may_follow(store: Store, follower: str, followee: str) -> Relation:
    if follower == followee:
        raise BadRequest("you cannot follow yourself", code="self_follow")
    return await may_see_user(store, follower, followee)


async def may_list(store: Store, viewer: str, owner: str) -> None:
    """Followers and following of a private account are visible to its followers only."""
    if viewer == owner:
        return
    rel = await may_see_user(store, viewer, owner)
    if (await store.get_settings(owner)).private and not rel.following:
        raise Forbidden(f"{owner} is private", code="private_account")


async def may_message(store: Store, sender: str, recipient: str) -> None:
    """Anyone not blocked either way may write (strangers land in message requests)."""
    if sender == recipient:
        raise BadRequest("you cannot message yourself", code="self_message")
    await require_users(store, [recipient])
    if (await store.relation(sender, recipient)).blocked_either:
        raise Forbidden(f"{recipient} cannot be reached", code="blocked")


async def initial_state(store: Store, recipient: str, sender: str) -> MemberState:
    """Where a thread started by ``sender`` lands for ``recipient``."""
    rel = await store.relation(recipient, sender)
    return INBOX if rel.following or rel.allowed else REQUEST


def member_state(thread: Thread, user: str) -> MemberState:
    state = thread.state_of(user)
    if state is None:
        raise Forbidden("you are not a member of this thread", code="not_member")
    return state


async def _blocked_from_live(store: Store, user: str, live: LiveInfo) -> bool:
    for participant in live.participants:
        if participant != user and (await store.relation(user, participant)).blocked_either:
            return True
    return False


async def may_watch(
    store: Store, viewer: str, live: LiveInfo, via_thread: str | None = None
) -> None:
    """Blocks first (any participant), then ended, then the thread, then privacy."""
    if viewer in live.participants:
        if live.ended:
            raise Conflict("this live has ended", code="live_ended")
        return
    if await _blocked_from_live(store, viewer, live):
        raise Forbidden("you cannot watch this live", code="blocked")
    if live.ended:
        raise Conflict("this live has ended", code="live_ended")
    if via_thread is not None:
        thread = await store.get_thread(via_thread)
        if thread is None:
            raise NotFound(f"no such thread: {via_thread}", code="thread_not_found")
        state = member_state(thread, viewer)
        if state == REQUEST:
            raise Forbidden("accept the message request first", code="request_pending")
        if state == DECLINED:
            raise Forbidden("you declined this message request", code="request_declined")
    if (await store.get_settings(live.host)).private:
        rel = await store.relation(viewer, live.host)
        if not rel.following:
            raise Forbidden(f"{live.host} is private", code="private_account")


async def may_be_reached(store: Store, sharer: str, member: str, live: LiveInfo) -> bool:
    """Whether a member of a thread the live is shared into is reached by the share (may
    reshare it, is told it ended): not across a block with the sharer or any participant."""
    if (await store.relation(sharer, member)).blocked_either:
        return False
    return not await _blocked_from_live(store, member, live)


async def may_see_live(store: Store, viewer: str, live: LiveInfo) -> None:
    """A live's card (state, viewer count) is hidden from users blocked from it."""
    if viewer not in live.participants and await _blocked_from_live(store, viewer, live):
        raise NotFound(f"no such live: {live.live_id}", code="live_not_found")


async def may_join(store: Store, user: str, live: LiveInfo) -> None:
    """A co-broadcast guest must be allowed to watch first."""
    if user == live.host:
        raise BadRequest("the host is already on the live", code="already_host")
    await may_watch(store, user, live)


async def may_reshare(store: Store, sharer: str, live: LiveInfo) -> None:
    """A viewer reshares a live they watch or were sent, unless the host turned sharing off."""
    if await _blocked_from_live(store, sharer, live):
        raise Forbidden("you cannot share this live", code="blocked")
    if live.ended:
        raise Conflict("this live has ended", code="live_ended")
    if not (await store.get_settings(live.host)).allow_sharing:
        raise Forbidden(f"{live.host} turned sharing off", code="sharing_off")
    reached = await store.has_reach(live.live_id, sharer)
    if not reached and live.followers_share:
        reached = (await store.relation(sharer, live.host)).following
    if not reached:
        raise Forbidden("you can only share a live you watch or were sent", code="not_viewer")
    await may_watch(store, sharer, live)


async def may_share(store: Store, sharer: str, live: LiveInfo) -> None:
    """Participants share their own live while it runs; anyone else reshares."""
    if sharer in live.participants:
        if live.ended:
            raise Conflict("this live has ended", code="live_ended")
        return
    await may_reshare(store, sharer, live)


async def may_share_to(store: Store, sharer: str, recipient: str, live: LiveInfo) -> None:
    """The recipient is reachable by the sharer, not blocked from the live, and may watch it:
    a private host's live goes only to the host's followers (anyone else could never watch)."""
    await may_message(store, sharer, recipient)
    if await _blocked_from_live(store, recipient, live):
        raise Forbidden(f"{recipient} cannot receive this live", code="blocked")
    if recipient in live.participants or not (await store.get_settings(live.host)).private:
        return
    if not (await store.relation(recipient, live.host)).following:
        raise Forbidden(
            f"{live.host} is private and {recipient} does not follow them",
            code="private_account",
        )

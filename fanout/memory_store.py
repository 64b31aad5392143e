"""``MemoryStore``: the default, single-process store. Every method runs without awaiting, so
each compound write is atomic on the event loop. Several ``Fanout`` instances sharing one
``MemoryStore`` behave as several nodes sharing one bus (tests use that)."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from fanout import cursors
from fanout.models import (
    DECLINED,
    INBOX,
    REQUEST,
    BoxEntry,
    ChunkResult,
    FanoutJob,
    FeedEntry,
    LiveInfo,
    MemberState,
    Message,
    Page,
    Relation,
    Settings,
    Thread,
)
from fanout.post_models import Comment, Post, Recording
from fanout.store import Box, BusHandler, Store, Unsubscribe, UserList


class _IdSet:
    """A set of ids paged in id order (sorted lazily, cached until the next change)."""

    def __init__(self) -> None:
        self.members: set[str] = set()
        self._sorted: list[str] | None = None

    def add(self, item: str) -> None:
        if item not in self.members:
            self.members.add(item)
            self._sorted = None

    def discard(self, item: str) -> bool:
        if item in self.members:
            self.members.discard(item)
            self._sorted = None
            return True
        return False

    def after(self, cursor: str, limit: int) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.members)
        start = bisect.bisect_right(self._sorted, cursor) if cursor else 0
        return self._sorted[start : start + limit]


def _newest_first(scores: Mapping[str, int], cursor: str, limit: int) -> list[tuple[str, int]]:
    below = cursors.below(cursor)
    ranked = sorted(((s, k) for k, s in scores.items() if below is None or s < below), reverse=True)
    return [(k, s) for s, k in ranked[:limit]]


def _page(items: Sequence[Any], limit: int, cursor_of: Any) -> Any:
    if len(items) < limit or not items:
        return Page(tuple(items))
    return Page(tuple(items), str(cursor_of(items[-1])))


class MemoryStore(Store):
    def __init__(self) -> None:
        self._settings: dict[str, Settings] = {}
        self._lists: dict[tuple[str, UserList], _IdSet] = defaultdict(_IdSet)
        self._blocks: dict[str, set[str]] = defaultdict(set)
        self._allowed: dict[str, set[str]] = defaultdict(set)
        self._seq = 0
        self._threads: dict[str, Thread] = {}
        self._dms: dict[tuple[str, str], str] = {}
        self._messages: dict[str, list[Message]] = defaultdict(list)
        self._boxes: dict[tuple[str, Box], dict[str, int]] = defaultdict(dict)
        self._unread: dict[str, dict[str, int]] = defaultdict(dict)
        self._lives: dict[str, LiveInfo] = {}
        self._node_lives: dict[str, set[str]] = {}
        self._reach: dict[str, set[str]] = defaultdict(set)
        self._jobs: dict[str, FanoutJob] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._feeds: dict[str, dict[str, int]] = defaultdict(dict)
        self._presence: dict[str, set[str]] = defaultdict(set)
        self._subscribers: dict[str, list[BusHandler]] = defaultdict(list)
        self._recordings: dict[str, Recording] = {}
        self._grants: dict[str, set[str]] = defaultdict(set)
        self._posts: dict[str, Post] = {}
        self._likes: dict[str, set[str]] = defaultdict(set)
        self._comments: dict[str, list[Comment]] = defaultdict(list)

    # -- users -------------------------------------------------------------------------------
    async def ensure_user(self, user: str) -> None:
        self._settings.setdefault(user, Settings())

    async def missing_users(self, users: Sequence[str]) -> list[str]:
        return [u for u in users if u not in self._settings]

    async def get_settings(self, user: str) -> Settings:
        return self._settings.get(user, Settings())

    async def set_settings(self, user: str, settings: Settings) -> None:
        self._settings[user] = settings

    # -- graph -------------------------------------------------------------------------------
    def _has(self, user: str, which: UserList, other: str) -> bool:
        key = (user, which)
        return key in self._lists and other in self._lists[key].members

    async def relation(self, a: str, b: str) -> Relation:
        return Relation(
            following=self._has(b, "followers", a),
            followed_by=self._has(a, "followers", b),
            requested=self._has(b, "requests", a),
            blocking=b in self._blocks.get(a, ()),
            blocked_by=a in self._blocks.get(b, ()),
            allowed=b in self._allowed.get(a, ()),
        )

    async def add_follow(self, follower: str, followee: str) -> None:
        self._lists[(followee, "requests")].discard(follower)
        self._lists[(followee, "followers")].add(follower)
        self._lists[(follower, "following")].add(followee)

    async def add_follow_request(self, follower: str, followee: str) -> None:
        self._lists[(followee, "requests")].add(follower)

    async def remove_follow(self, follower: str, followee: str) -> bool:
        dropped = self._lists[(followee, "requests")].discard(follower)
        dropped = self._lists[(followee, "followers")].discard(follower) or dropped
        self._lists[(follower, "following")].discard(followee)
        return dropped

    async def remove_follow_request(self, follower: str, followee: str) -> bool:
        return self._lists[(followee, "requests")].discard(follower)

    async def approve_all_requests(self, user: str) -> list[str]:
        pending = sorted(self._lists[(user, "requests")].members)
        for follower in pending:
            await self.add_follow(follower, user)
        return pending

    async def add_block(self, blocker: str, blocked: str) -> None:
        self._blocks[blocker].add(blocked)
        await self.remove_follow(blocker, blocked)
        await self.remove_follow(blocked, blocker)

    async def remove_block(self, blocker: str, blocked: str) -> bool:
        if blocked in self._blocks.get(blocker, ()):
            self._blocks[blocker].discard(blocked)
            return True
        return False

    async def page_users(self, user: str, which: UserList, cursor: str, limit: int) -> Page[str]:
        items = self._lists[(user, which)].after(cursor, limit)
        return _page(items, limit, str)  # type: ignore[no-any-return]

    async def count_users(self, user: str, which: UserList) -> int:
        key = (user, which)
        return len(self._lists[key].members) if key in self._lists else 0

    async def import_followers(self, followee: str, followers: Sequence[str]) -> None:
        for follower in followers:
            await self.ensure_user(follower)
            await self.add_follow(follower, followee)

    async def allow_sender(self, user: str, sender: str) -> None:
        self._allowed[user].add(sender)

    # -- threads -----------------------------------------------------------------------------
    async def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def find_dm(self, a: str, b: str) -> str | None:
        return self._dms.get((min(a, b), max(a, b)))

    async def create_thread(self, thread: Thread) -> str:
        if thread.kind == "dm":
            a, b = sorted(thread.members)
            existing = self._dms.setdefault((a, b), thread.thread_id)
            if existing != thread.thread_id:
                return existing
        self._threads[thread.thread_id] = thread
        for user, state in thread.members.items():
            self._place(thread.thread_id, user, state, thread.created_seq)
        return thread.thread_id

    async def get_thread(self, thread_id: str) -> Thread | None:
        return self._threads.get(thread_id)

    def _place(self, thread_id: str, user: str, state: MemberState | None, seq: int) -> None:
        self._boxes[(user, "inbox")].pop(thread_id, None)
        self._boxes[(user, "requests")].pop(thread_id, None)
        if state == INBOX:
            self._boxes[(user, "inbox")][thread_id] = seq
        elif state == REQUEST:
            self._boxes[(user, "requests")][thread_id] = seq
            self._unread[user].pop(thread_id, None)
        else:
            self._unread[user].pop(thread_id, None)

    def _last_seq(self, thread_id: str) -> int:
        messages = self._messages.get(thread_id)
        return messages[-1].seq if messages else self._threads[thread_id].created_seq

    async def set_member_state(self, thread_id: str, user: str, state: MemberState) -> None:
        thread = self._threads[thread_id]
        members = {**thread.members, user: state}
        self._threads[thread_id] = replace(thread, members=members)
        self._place(thread_id, user, state, self._last_seq(thread_id))

    async def add_members(
        self, thread_id: str, members: Mapping[str, MemberState], limit: int
    ) -> bool:
        thread = self._threads[thread_id]
        merged = {**thread.members, **members}
        if len(merged) > limit:
            return False
        self._threads[thread_id] = replace(thread, members=merged)
        for user, state in members.items():
            self._place(thread_id, user, state, self._last_seq(thread_id))
        return True

    async def remove_member(self, thread_id: str, user: str) -> bool:
        thread = self._threads[thread_id]
        if user not in thread.members:
            return False
        members = {k: v for k, v in thread.members.items() if k != user}
        self._threads[thread_id] = replace(thread, members=members)
        self._place(thread_id, user, None, 0)
        return True

    async def append_message(self, message: Message, post: Post | None = None) -> Message:
        stored = replace(message, seq=await self.next_seq())
        self._messages[stored.thread_id].append(stored)
        if post is not None:
            await self.put_post(replace(post, seq=stored.seq))
        thread = self._threads[stored.thread_id]
        for user, state in thread.members.items():
            if state == DECLINED:
                continue
            self._place(stored.thread_id, user, state, stored.seq)
            if state == INBOX and user != stored.sender:
                unread = self._unread[user]
                unread[stored.thread_id] = unread.get(stored.thread_id, 0) + 1
        return stored

    async def page_messages(self, thread_id: str, cursor: str, limit: int) -> Page[Message]:
        below = cursors.below(cursor)
        messages = self._messages.get(thread_id, [])
        items = [m for m in reversed(messages) if below is None or m.seq < below][:limit]
        return _page(items, limit, lambda m: m.seq)  # type: ignore[no-any-return]

    async def page_box(self, user: str, box: Box, cursor: str, limit: int) -> Page[BoxEntry]:
        unread = self._unread.get(user, {})
        rows = _newest_first(self._boxes.get((user, box), {}), cursor, limit)
        items = [BoxEntry(t, s, unread.get(t, 0) if box == "inbox" else 0) for t, s in rows]
        return _page(items, limit, lambda e: e.last_seq)  # type: ignore[no-any-return]

    async def mark_read(self, user: str, thread_id: str) -> None:
        self._unread[user].pop(thread_id, None)

    # -- lives -------------------------------------------------------------------------------
    async def put_live(self, live: LiveInfo) -> None:
        self._lives[live.live_id] = live

    async def get_live(self, live_id: str) -> LiveInfo | None:
        return self._lives.get(live_id)

    async def end_live(self, live_id: str, at: float) -> bool:
        live = self._lives.get(live_id)
        if live is None or live.ended:
            return False
        self._lives[live_id] = replace(live, ended=True, ended_at=at, viewer_count=0)
        return True

    async def set_viewer_count(self, live_id: str, count: int) -> None:
        if live_id in self._lives:
            self._lives[live_id] = replace(self._lives[live_id], viewer_count=count)

    async def set_guests(self, live_id: str, guests: Sequence[str]) -> None:
        if live_id in self._lives:
            self._lives[live_id] = replace(self._lives[live_id], guests=tuple(guests))

    async def running_lives(self, host: str) -> list[str]:
        return sorted(k for k, v in self._lives.items() if v.host == host and not v.ended)

    async def mark_node_live(self, node: str, live_id: str, running: bool) -> None:
        lives = self._node_lives.setdefault(node, set())
        if running:
            lives.add(live_id)
        else:
            lives.discard(live_id)

    async def node_lives(self, node: str) -> list[str]:
        return sorted(self._node_lives.get(node, ()))

    async def add_reach(self, live_id: str, users: Sequence[str]) -> None:
        self._reach[live_id].update(users)

    async def has_reach(self, live_id: str, user: str) -> bool:
        return user in self._reach.get(live_id, ())

    async def reach(self, live_id: str) -> list[str]:
        return sorted(self._reach.get(live_id, ()))

    # -- share to all followers --------------------------------------------------------------
    async def create_job(self, job: FanoutJob) -> FanoutJob:
        live = self._lives[job.live_id]
        if live.followers_share:
            return self._jobs[live.followers_share]
        self._lives[job.live_id] = replace(live, followers_share=job.share_id)
        self._jobs[job.share_id] = job
        return job

    async def get_job(self, share_id: str) -> FanoutJob | None:
        return self._jobs.get(share_id)

    async def pending_jobs(self) -> list[str]:
        return sorted(k for k, v in self._jobs.items() if not v.done)

    async def claim_job(self, share_id: str, node: str, ttl: float) -> bool:
        holder, until = self._leases.get(share_id, ("", 0.0))
        now = time.monotonic()
        if holder not in ("", node) and until > now:
            return False
        self._leases[share_id] = (node, now + ttl)
        return True

    async def fanout_chunk(self, job: FanoutJob, limit: int) -> ChunkResult:
        current = self._jobs[job.share_id]
        batch = self._lists[(job.sender, "followers")].after(current.cursor, limit + 1)
        more = len(batch) > limit
        del batch[limit:]
        added = []
        for user in batch:
            feed = self._feeds[user]
            if job.share_id not in feed:
                feed[job.share_id] = job.seq
                added.append(user)
        cursor = batch[-1] if batch else current.cursor
        self._jobs[job.share_id] = replace(
            current, cursor=cursor, delivered=current.delivered + len(added)
        )
        online = {u: tuple(sorted(n)) for u in added if (n := self._presence.get(u))}
        return ChunkResult(len(added), online, cursor, not more)

    async def finish_job(self, share_id: str) -> None:
        self._jobs[share_id] = replace(self._jobs[share_id], done=True)
        self._leases.pop(share_id, None)

    async def page_feed(self, user: str, cursor: str, limit: int) -> Page[FeedEntry]:
        rows = _newest_first(self._feeds.get(user, {}), cursor, limit)
        items = []
        for share_id, seq in rows:
            job = self._jobs[share_id]
            items.append(FeedEntry(share_id, job.live_id, job.sender, seq))
        return _page(items, limit, lambda e: e.seq)  # type: ignore[no-any-return]

    # -- presence and event bus --------------------------------------------------------------
    async def presence_add(self, user: str, node: str) -> None:
        self._presence[user].add(node)

    async def presence_remove(self, user: str, node: str) -> None:
        nodes = self._presence.get(user)
        if nodes is not None:
            nodes.discard(node)
            if not nodes:
                del self._presence[user]

    async def presence_nodes(self, users: Sequence[str]) -> dict[str, tuple[str, ...]]:
        found = {u: self._presence.get(u) for u in users}
        return {u: tuple(sorted(n)) for u, n in found.items() if n}

    async def node_presence(self, node: str) -> list[str]:
        return sorted(user for user, nodes in self._presence.items() if node in nodes)

    async def publish(self, node: str | None, payload: Mapping[str, Any]) -> None:
        targets = list(self._subscribers) if node is None else [node]
        loop = asyncio.get_running_loop()
        for target in targets:
            for handler in self._subscribers.get(target, ()):
                loop.call_soon(handler, payload)

    async def subscribe(self, node: str, handler: BusHandler) -> Unsubscribe:
        self._subscribers[node].append(handler)

        async def unsubscribe() -> None:
            handlers = self._subscribers.get(node, [])
            if handler in handlers:
                handlers.remove(handler)
            if not handlers:
                self._subscribers.pop(node, None)

        return unsubscribe

    async def close(self) -> None:
        self._subscribers.clear()

    # -- recordings and direct posts ---------------------------------------------------------
    async def put_recording(self, recording: Recording) -> None:
        self._recordings[recording.live_id] = recording

    async def get_recording(self, live_id: str) -> Recording | None:
        return self._recordings.get(live_id)

    async def unfinished_recordings(self, node: str) -> list[str]:
        found = self._recordings.values()
        return sorted(r.live_id for r in found if r.node == node and r.unfinished)

    async def page_recordings(self, host: str, cursor: str, limit: int) -> Page[Recording]:
        mine = {r.live_id: r.seq for r in self._recordings.values() if r.host == host}
        items = [self._recordings[k] for k, _ in _newest_first(mine, cursor, limit)]
        return _page(items, limit, lambda r: r.seq)  # type: ignore[no-any-return]

    async def grant_recording(self, live_id: str, users: Sequence[str]) -> None:
        self._grants[live_id].update(users)

    async def has_recording_grant(self, live_id: str, user: str) -> bool:
        return user in self._grants.get(live_id, ())

    async def put_post(self, post: Post) -> None:
        self._posts[post.post_id] = post

    async def get_post(self, post_id: str) -> Post | None:
        return self._posts.get(post_id)

    async def page_posts(self, thread_id: str, cursor: str, limit: int) -> Page[Post]:
        scores = {p.post_id: p.seq for p in self._posts.values() if p.thread_id == thread_id}
        items = [self._posts[k] for k, _ in _newest_first(scores, cursor, limit)]
        return _page(items, limit, lambda p: p.seq)  # type: ignore[no-any-return]

    async def set_like(self, post_id: str, user: str, liked: bool) -> int:
        likes = self._likes[post_id]
        if liked:
            likes.add(user)
        else:
            likes.discard(user)
        return len(likes)

    async def post_likes(self, post_id: str) -> list[str]:
        return sorted(self._likes.get(post_id, ()))

    async def add_comment(self, comment: Comment) -> None:
        self._comments[comment.post_id].append(comment)

    async def page_comments(self, post_id: str, cursor: str, limit: int) -> Page[Comment]:
        below = cursors.below(cursor)
        found = self._comments.get(post_id, [])
        items = [c for c in reversed(found) if below is None or c.seq < below][:limit]
        return _page(items, limit, lambda c: c.seq)  # type: ignore[no-any-return]

    async def post_counts(self, post_id: str) -> tuple[int, int]:
        return len(self._likes.get(post_id, ())), len(self._comments.get(post_id, ()))

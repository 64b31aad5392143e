"""The one storage contract of the social plane, kept by ``MemoryStore`` and ``RedisStore``.

A store holds facts and applies each compound write as one unit (one lock-free step in memory,
one transaction or script on Redis). It knows no rule: who may do what lives in
``fanout.policy``; orchestration lives in the services. Lists page in a stable order:
user lists by id, boxes, messages and feeds newest first by ``seq``; a cursor is the last item
returned.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from fanout.models import (
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

UserList = Literal["followers", "following", "requests"]
Box = Literal["inbox", "requests"]
BusHandler = Callable[[Mapping[str, Any]], None]
Unsubscribe = Callable[[], Awaitable[None]]


class Store(ABC):
    """Facts of the social plane plus its event bus and presence table."""

    # -- users -------------------------------------------------------------------------------
    @abstractmethod
    async def ensure_user(self, user: str) -> None:
        """Create ``user`` with default settings unless it exists."""

    @abstractmethod
    async def missing_users(self, users: Sequence[str]) -> list[str]:
        """Those of ``users`` that do not exist, in order."""

    @abstractmethod
    async def get_settings(self, user: str) -> Settings: ...

    @abstractmethod
    async def set_settings(self, user: str, settings: Settings) -> None: ...

    # -- graph -------------------------------------------------------------------------------
    @abstractmethod
    async def relation(self, a: str, b: str) -> Relation:
        """How ``a`` relates to ``b``."""

    @abstractmethod
    async def add_follow(self, follower: str, followee: str) -> None:
        """Record the follow and drop any pending request between them in that direction."""

    @abstractmethod
    async def add_follow_request(self, follower: str, followee: str) -> None: ...

    @abstractmethod
    async def remove_follow(self, follower: str, followee: str) -> bool:
        """Drop the follow and any pending request; True if something was dropped."""

    @abstractmethod
    async def remove_follow_request(self, follower: str, followee: str) -> bool: ...

    @abstractmethod
    async def approve_all_requests(self, user: str) -> list[str]:
        """Turn every pending request to ``user`` into a follow; return the new followers."""

    @abstractmethod
    async def add_block(self, blocker: str, blocked: str) -> None:
        """Record the block and cut follows and pending requests both ways."""

    @abstractmethod
    async def remove_block(self, blocker: str, blocked: str) -> bool: ...

    @abstractmethod
    async def page_users(self, user: str, which: UserList, cursor: str, limit: int) -> Page[str]:
        """Followers, followed users, or pending follow requests to ``user``, by id."""

    @abstractmethod
    async def count_users(self, user: str, which: UserList) -> int:
        """How many users ``page_users`` lists."""

    @abstractmethod
    async def import_followers(self, followee: str, followers: Sequence[str]) -> None:
        """Bulk load: create the users and make them follow ``followee`` (admin, benchmarks)."""

    @abstractmethod
    async def allow_sender(self, user: str, sender: str) -> None:
        """Remember that ``user`` accepts messages from ``sender``."""

    # -- threads -----------------------------------------------------------------------------
    @abstractmethod
    async def next_seq(self) -> int:
        """A number greater than every one handed out before."""

    @abstractmethod
    async def find_dm(self, a: str, b: str) -> str | None: ...

    @abstractmethod
    async def create_thread(self, thread: Thread) -> str:
        """Store a new thread; for a dm whose pair already has one, keep it and return its id."""

    @abstractmethod
    async def get_thread(self, thread_id: str) -> Thread | None: ...

    @abstractmethod
    async def set_member_state(self, thread_id: str, user: str, state: MemberState) -> None:
        """Move the thread to ``user``'s inbox or requests, or out of both (declined)."""

    @abstractmethod
    async def add_members(
        self, thread_id: str, members: Mapping[str, MemberState], limit: int
    ) -> bool:
        """Add members unless the thread would exceed ``limit``; False (nothing written) if so."""

    @abstractmethod
    async def remove_member(self, thread_id: str, user: str) -> bool: ...

    @abstractmethod
    async def append_message(self, message: Message, post: Post | None = None) -> Message:
        """Store ``message`` under a fresh seq; update each member's box and unread count.
        With ``post`` (the post a ``post`` message carries), store it in the same step under
        the same seq, as ``put_post`` does."""

    @abstractmethod
    async def page_messages(self, thread_id: str, cursor: str, limit: int) -> Page[Message]: ...

    @abstractmethod
    async def page_box(self, user: str, box: Box, cursor: str, limit: int) -> Page[BoxEntry]: ...

    @abstractmethod
    async def mark_read(self, user: str, thread_id: str) -> None: ...

    # -- lives -------------------------------------------------------------------------------
    @abstractmethod
    async def put_live(self, live: LiveInfo) -> None: ...

    @abstractmethod
    async def get_live(self, live_id: str) -> LiveInfo | None: ...

    @abstractmethod
    async def end_live(self, live_id: str, at: float) -> bool:
        """Mark the live ended; True if it was running."""

    @abstractmethod
    async def set_viewer_count(self, live_id: str, count: int) -> None: ...

    @abstractmethod
    async def set_guests(self, live_id: str, guests: Sequence[str]) -> None: ...

    @abstractmethod
    async def running_lives(self, host: str) -> list[str]: ...

    @abstractmethod
    async def mark_node_live(self, node: str, live_id: str, running: bool) -> None:
        """Index (or un-index) a live as running on ``node``."""

    @abstractmethod
    async def node_lives(self, node: str) -> list[str]:
        """Lives indexed as running on ``node``: after a crash, the ones it left behind."""

    @abstractmethod
    async def add_reach(self, live_id: str, users: Sequence[str]) -> None:
        """Remember users who were sent the live or watched it."""

    @abstractmethod
    async def has_reach(self, live_id: str, user: str) -> bool: ...

    @abstractmethod
    async def reach(self, live_id: str) -> list[str]: ...

    # -- share to all followers --------------------------------------------------------------
    @abstractmethod
    async def create_job(self, job: FanoutJob) -> FanoutJob:
        """Persist a job and tie it to its live; if the live has one already, return that."""

    @abstractmethod
    async def get_job(self, share_id: str) -> FanoutJob | None: ...

    @abstractmethod
    async def pending_jobs(self) -> list[str]: ...

    @abstractmethod
    async def claim_job(self, share_id: str, node: str, ttl: float) -> bool:
        """Lease the job to ``node`` for ``ttl`` seconds; False if another node holds it."""

    @abstractmethod
    async def fanout_chunk(self, job: FanoutJob, limit: int) -> ChunkResult:
        """In one step: read up to ``limit`` followers of the sender after the cursor stored in
        the job, add their feed entries (idempotent per share and recipient), advance the job's
        cursor and delivered count, and say where the newly served ones are online. Several
        calls may be in flight at once: each takes the followers after the cursor it finds."""

    @abstractmethod
    async def finish_job(self, share_id: str) -> None: ...

    @abstractmethod
    async def page_feed(self, user: str, cursor: str, limit: int) -> Page[FeedEntry]: ...

    # -- presence and event bus --------------------------------------------------------------
    @abstractmethod
    async def presence_add(self, user: str, node: str) -> None: ...

    @abstractmethod
    async def presence_remove(self, user: str, node: str) -> None: ...

    @abstractmethod
    async def presence_nodes(self, users: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Nodes where each user is online; offline users are absent."""

    @abstractmethod
    async def node_presence(self, node: str) -> list[str]:
        """Users marked online on ``node``: after a crash, presence it left behind."""

    @abstractmethod
    async def publish(self, node: str | None, payload: Mapping[str, Any]) -> None:
        """Send ``payload`` to ``node``'s subscriber, or to every node when ``node`` is None."""

    @abstractmethod
    async def subscribe(self, node: str, handler: BusHandler) -> Unsubscribe:
        """Call ``handler`` for every payload sent to ``node`` or to all nodes."""

    @abstractmethod
    async def close(self) -> None: ...

    # -- recordings and direct posts (``fanout.post_models``) ------------------------------
    @abstractmethod
    async def put_recording(self, recording: Recording) -> None:
        """Store or replace a recording; its host's archive lists it by ``seq``."""

    @abstractmethod
    async def get_recording(self, live_id: str) -> Recording | None: ...

    @abstractmethod
    async def unfinished_recordings(self, node: str) -> list[str]:
        """Lives recorded on ``node`` whose files were never finalized (``Recording.unfinished``),
        in id order."""

    @abstractmethod
    async def page_recordings(self, host: str, cursor: str, limit: int) -> Page[Recording]:
        """The host's archive, newest first."""

    @abstractmethod
    async def grant_recording(self, live_id: str, users: Sequence[str]) -> None:
        """Remember that the host shared the recording with ``users``."""

    @abstractmethod
    async def has_recording_grant(self, live_id: str, user: str) -> bool: ...

    @abstractmethod
    async def put_post(self, post: Post) -> None:
        """Store a post; its thread lists it by ``seq``."""

    @abstractmethod
    async def get_post(self, post_id: str) -> Post | None: ...

    @abstractmethod
    async def page_posts(self, thread_id: str, cursor: str, limit: int) -> Page[Post]:
        """A thread's posts, newest first."""

    @abstractmethod
    async def set_like(self, post_id: str, user: str, liked: bool) -> int:
        """Like or unlike (idempotent); returns the post's like count."""

    @abstractmethod
    async def post_likes(self, post_id: str) -> list[str]:
        """Users who like the post, in id order."""

    @abstractmethod
    async def add_comment(self, comment: Comment) -> None: ...

    @abstractmethod
    async def page_comments(self, post_id: str, cursor: str, limit: int) -> Page[Comment]:
        """A post's comments, newest first."""

    @abstractmethod
    async def post_counts(self, post_id: str) -> tuple[int, int]:
        """(likes, comments) of a post."""

"""Direct posts: photos, videos and recordings posted in a thread, with likes and comments.

Posting writes a thread message of kind ``post`` that references the post (like a share
references a live): it orders the inbox, counts as unread and is pushed as ``message.new``
like any message; its likes and comments are resolved when read. Everything about a post is
for the thread's members only: the post, its likes, its comments and the events announcing
them (``post.new``, ``post.liked``, ``post.comment``, sent to the members who have the thread
in their inbox). Checks run before any write.
"""

from __future__ import annotations

import secrets
import time

from directlive.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from fanout import policy
from fanout.direct import Direct, stored
from fanout.events import EventHub
from fanout.models import INBOX, FanoutConfig, Page, Thread
from fanout.post_models import Comment, Post
from fanout.post_render import comment_json, post_json
from fanout.recordings import Recordings
from fanout.store import Store


def new_post_id() -> str:
    return "p_" + secrets.token_urlsafe(12)


class Posts:
    def __init__(
        self,
        store: Store,
        hub: EventHub,
        direct: Direct,
        recordings: Recordings,
        config: FanoutConfig,
    ) -> None:
        self._store = store
        self._hub = hub
        self._direct = direct
        self._recordings = recordings
        self._config = config

    def _check_caption(self, text: str, what: str = "caption") -> None:
        if len(text) > self._config.text_limit:
            raise PayloadTooLarge(
                f"{what} over {self._config.text_limit} characters", code="text_too_long"
            )

    async def writable_thread(self, sender: str, thread_id: str, caption: str = "") -> Thread:
        """The thread, if ``sender`` may post in it now (checked before an upload is read)."""
        self._check_caption(caption)
        thread = await self._direct.thread(thread_id)
        if policy.member_state(thread, sender) != INBOX:
            raise Forbidden("accept the message request first", code="request_pending")
        await self._direct.check_writable(sender, thread)
        return thread

    async def publish(self, draft: Post) -> Post:
        """Store a checked post (its media already in place) with the thread message that
        carries it, and tell the members."""
        thread = await self.writable_thread(draft.sender, draft.thread_id, draft.caption)
        message = await self._direct.post(draft.sender, thread, "post", post=draft)
        post = stored(draft, message)
        event = {"type": "post.new", "thread_id": thread.thread_id, "post": post_json(post)}
        await self._hub.emit(_inbox_members(thread), event)
        return post

    async def post_recording(self, sender: str, thread_id: str, live_id: str, caption: str) -> Post:
        await self.writable_thread(sender, thread_id, caption)
        recording = await self._recordings.get(live_id)
        if recording.host != sender:
            raise Forbidden("only the host posts a recording of a live", code="not_host")
        if recording.state == "recording":
            raise Conflict("the live is still being recorded", code="recording_in_progress")
        draft = Post(
            new_post_id(), thread_id, sender, "recording", 0, 0.0, caption, live_id=live_id
        )
        return await self.publish(draft)

    async def readable(self, user: str, post_id: str) -> tuple[Post, Thread]:
        """The post and its thread, if ``user`` is a member of that thread."""
        post = await self._store.get_post(post_id)
        if post is None:
            raise NotFound(f"no such post: {post_id}", code="post_not_found")
        return post, await self._direct.readable(user, post.thread_id)

    async def page(
        self, user: str, thread_id: str, cursor: str, limit: int
    ) -> tuple[list[dict[str, object]], str | None]:
        """A page of the thread's posts as JSON, with their counts, and the next cursor."""
        await self._direct.readable(user, thread_id)
        page = await self._store.page_posts(thread_id, cursor, limit)
        posts = [post_json(p, *await self._store.post_counts(p.post_id)) for p in page.items]
        return posts, page.next_cursor

    async def like(self, user: str, post_id: str, liked: bool) -> int:
        _, thread = await self.readable(user, post_id)
        await self._direct.check_writable(user, thread)
        count = await self._store.set_like(post_id, user, liked)
        event = {
            "type": "post.liked",
            "thread_id": thread.thread_id,
            "post_id": post_id,
            "user": user,
            "liked": liked,
            "likes": count,
        }
        await self._hub.emit(_inbox_members(thread), event)
        return count

    async def likes(self, user: str, post_id: str) -> list[str]:
        await self.readable(user, post_id)
        return await self._store.post_likes(post_id)

    async def comment(self, user: str, post_id: str, text: str) -> Comment:
        if not text.strip():
            raise BadRequest("empty comment", code="empty_text")
        self._check_caption(text, "comment")
        _, thread = await self.readable(user, post_id)
        await self._direct.check_writable(user, thread)
        comment = Comment(await self._store.next_seq(), post_id, user, text, time.time())
        await self._store.add_comment(comment)
        event = {
            "type": "post.comment",
            "thread_id": thread.thread_id,
            "post_id": post_id,
            "comment": comment_json(comment),
        }
        await self._hub.emit(_inbox_members(thread), event)
        return comment

    async def comments(self, user: str, post_id: str, cursor: str, limit: int) -> Page[Comment]:
        await self.readable(user, post_id)
        return await self._store.page_comments(post_id, cursor, limit)


def _inbox_members(thread: Thread) -> list[str]:
    return [user for user, state in thread.members.items() if state == INBOX]

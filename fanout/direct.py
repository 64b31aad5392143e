"""Direct threads: 1:1 and groups, messages, inbox, message requests.

A thread started by someone a member does not follow (and has not accepted before) sits in that
member's requests: it counts no unread and its lives cannot be watched. Accepting moves it to
the inbox and remembers the sender as allowed; declining hides it (a group: leaves it) and the
sender is not told. Writing in a thread one has as a request accepts it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import replace

from directlive.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from fanout import policy
from fanout.events import EventHub
from fanout.message_render import MessageRenderer
from fanout.models import (
    DECLINED,
    INBOX,
    REQUEST,
    FanoutConfig,
    MemberState,
    Message,
    MessageKind,
    Thread,
)
from fanout.post_models import Post
from fanout.store import Store


class Direct:
    def __init__(
        self, store: Store, hub: EventHub, config: FanoutConfig, renderer: MessageRenderer
    ) -> None:
        self._store = store
        self._hub = hub
        self._config = config
        self._renderer = renderer

    async def thread(self, thread_id: str) -> Thread:
        thread = await self._store.get_thread(thread_id)
        if thread is None:
            raise NotFound(f"no such thread: {thread_id}", code="thread_not_found")
        return thread

    async def readable(self, user: str, thread_id: str) -> Thread:
        """The thread, if ``user`` is a member who has not declined it."""
        thread = await self.thread(thread_id)
        if policy.member_state(thread, user) == DECLINED:
            raise Forbidden("you are not a member of this thread", code="not_member")
        return thread

    async def create(self, creator: str, members: Sequence[str], name: str = "") -> Thread:
        """One other member and no name: the 1:1 thread (reused). Otherwise a new group."""
        others = list(dict.fromkeys(m for m in members if m != creator))
        if not others and creator in members:
            raise BadRequest("you cannot message yourself", code="self_message")
        if not others:
            raise BadRequest("a thread needs at least one other member", code="no_members")
        if len(name) > 100:
            raise BadRequest("thread name over 100 characters", code="name_too_long")
        await policy.require_users(self._store, others)
        for other in others:
            await policy.may_message(self._store, creator, other)
        if len(others) == 1 and not name:
            return await self.open_dm(creator, others[0])
        if len(others) + 1 > self._config.group_limit:
            raise Conflict(f"a group holds at most {self._config.group_limit}", code="group_full")
        states: dict[str, MemberState] = {creator: INBOX}
        for other in others:
            states[other] = await policy.initial_state(self._store, other, creator)
        thread = Thread(
            _new_id(), "group", creator, name, states, created_seq=await self._store.next_seq()
        )
        await self._store.create_thread(thread)
        return thread

    async def open_dm(self, sender: str, other: str) -> Thread:
        """The 1:1 thread of the pair, created on first use (checks done by the caller)."""
        existing = await self._store.find_dm(sender, other)
        if existing is None:
            state = await policy.initial_state(self._store, other, sender)
            seq = await self._store.next_seq()
            thread = Thread(_new_id(), "dm", sender, "", {sender: INBOX, other: state}, seq)
            existing = await self._store.create_thread(thread)
        thread = await self.thread(existing)
        if thread.state_of(sender) != INBOX:
            await self._store.set_member_state(thread.thread_id, sender, INBOX)
            thread = await self.thread(existing)
        return thread

    async def check_writable(self, sender: str, thread: Thread) -> None:
        policy.member_state(thread, sender)
        if thread.kind == "dm":
            other = next(m for m in thread.members if m != sender)
            await policy.may_message(self._store, sender, other)

    async def send_text(self, sender: str, thread_id: str, text: str) -> Message:
        if not text.strip():
            raise BadRequest("empty message", code="empty_text")
        if len(text) > self._config.text_limit:
            raise PayloadTooLarge(
                f"text over {self._config.text_limit} characters", code="text_too_long"
            )
        thread = await self.thread(thread_id)
        await self.check_writable(sender, thread)
        return await self.post(sender, thread, "text", text=text)

    async def post(
        self,
        sender: str,
        thread: Thread,
        kind: MessageKind,
        text: str = "",
        live_id: str = "",
        post: Post | None = None,
    ) -> Message:
        """Append a checked message and push it: members with the thread in their inbox get
        ``message.new`` (and ``share.new`` for a share), those with it in requests get
        ``request.new``. A ``post`` message stores ``post`` with it, in one step, under the
        message's seq and time."""
        if thread.state_of(sender) != INBOX:
            await self._accept(sender, thread)
            thread = await self.thread(thread.thread_id)
        now = time.time()
        post_id = post.post_id if post is not None else ""
        draft = Message(0, thread.thread_id, sender, kind, text, live_id, now, post_id)
        if post is not None:
            post = replace(post, sent_at=now)
        message = await self._store.append_message(draft, post)
        inbox = [u for u, s in thread.members.items() if s == INBOX]
        pending = [u for u, s in thread.members.items() if s == REQUEST]
        rendered = await self._renderer.render_one(message)
        event = {"type": "message.new", "thread_id": thread.thread_id, "message": rendered}
        await self._hub.emit(inbox, event)
        if message.kind == "share":
            share = {"type": "share.new", "live_id": live_id, "thread_id": thread.thread_id}
            await self._hub.emit([u for u in inbox if u != sender], {**share, "from": sender})
        request = {"type": "request.new", "thread_id": thread.thread_id, "from": sender}
        await self._hub.emit(pending, request)
        return message

    async def accept(self, user: str, thread_id: str) -> Thread:
        thread = await self.thread(thread_id)
        if policy.member_state(thread, user) != REQUEST:
            raise Conflict("this thread is not a message request", code="not_a_request")
        await self._accept(user, thread)
        return await self.thread(thread_id)

    async def _accept(self, user: str, thread: Thread) -> None:
        await self._store.set_member_state(thread.thread_id, user, INBOX)
        await self._store.mark_read(user, thread.thread_id)
        others = [m for m in thread.members if m != user]
        for sender in others if thread.kind == "dm" else [thread.creator]:
            if sender != user:
                await self._store.allow_sender(user, sender)

    async def decline(self, user: str, thread_id: str) -> None:
        thread = await self.thread(thread_id)
        if policy.member_state(thread, user) != REQUEST:
            raise Conflict("this thread is not a message request", code="not_a_request")
        if thread.kind == "group":
            await self._store.remove_member(thread_id, user)
        else:
            await self._store.set_member_state(thread_id, user, DECLINED)

    async def add_members(self, adder: str, thread_id: str, users: Sequence[str]) -> Thread:
        thread = await self.thread(thread_id)
        if policy.member_state(thread, adder) != INBOX:
            raise Forbidden("accept the message request first", code="request_pending")
        if thread.kind != "group":
            raise Conflict("members can only be added to a group", code="not_group")
        new = list(dict.fromkeys(users))
        if not new:
            raise BadRequest("no members to add", code="no_members")
        await policy.require_users(self._store, new)
        for user in new:
            if user in thread.members:
                raise Conflict(f"{user} is already a member", code="already_member")
            await policy.may_message(self._store, adder, user)
        states = {u: await policy.initial_state(self._store, u, adder) for u in new}
        if not await self._store.add_members(thread_id, states, self._config.group_limit):
            raise Conflict(f"a group holds at most {self._config.group_limit}", code="group_full")
        return await self.thread(thread_id)

    async def remove_member(self, actor: str, thread_id: str, user: str) -> None:
        """Anyone leaves; only the group's creator removes someone else."""
        thread = await self.thread(thread_id)
        policy.member_state(thread, actor)
        if thread.kind != "group":
            raise Conflict("nobody can leave a 1:1 thread", code="not_group")
        if actor != user and actor != thread.creator:
            raise Forbidden("only the group's creator removes members", code="not_admin")
        if not await self._store.remove_member(thread_id, user):
            raise NotFound(f"{user} is not a member", code="member_not_found")

    async def mark_read(self, user: str, thread_id: str) -> None:
        thread = await self.readable(user, thread_id)
        if thread.state_of(user) == INBOX:
            await self._store.mark_read(user, thread_id)


def _new_id() -> str:
    return "t_" + secrets.token_urlsafe(12)


def stored(post: Post, message: Message) -> Post:
    """``post`` as the store kept it with its ``message``."""
    return replace(post, seq=message.seq, sent_at=message.sent_at)

"""Thread messages as every reader sees them: the API's message lists and the pushed
``message.new`` come from this one function, so they cannot differ.

What a message references is resolved when it is rendered: a share's live (``state``,
``viewer_count``), a post with its current likes and comments (``None`` once it is gone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from fanout.models import LiveInfo, Message
from fanout.post_render import post_json
from fanout.store import Store

LiveLookup = Callable[[Sequence[str]], Awaitable[Mapping[str, LiveInfo]]]
"""The known lives among these ids, as ``Fanout.lives`` resolves them."""


def message_json(message: Message) -> dict[str, object]:
    """A message without what is resolved when read (a share's live, a post's counts)."""
    body: dict[str, object] = {
        "id": str(message.seq),
        "thread_id": message.thread_id,
        "from": message.sender,
        "kind": message.kind,
        "sent_at": message.sent_at,
    }
    if message.kind == "text":
        body["text"] = message.text
    elif message.kind == "share":
        body["live_id"] = message.live_id
    else:
        body["post_id"] = message.post_id
    return body


def live_json(live: LiveInfo) -> dict[str, object]:
    """A share's view of its live."""
    return {"state": live.state, "viewer_count": live.viewer_count}


class MessageRenderer:
    def __init__(self, store: Store, lives: LiveLookup) -> None:
        self._store = store
        self._lives = lives

    async def render(self, messages: Sequence[Message]) -> list[dict[str, object]]:
        lives = await self._lives([m.live_id for m in messages if m.kind == "share"])
        rendered = []
        for message in messages:
            body = message_json(message)
            if message.kind == "share" and message.live_id in lives:
                body["live"] = live_json(lives[message.live_id])
            elif message.kind == "post":
                body["post"] = await self._post(message.post_id)
            rendered.append(body)
        return rendered

    async def render_one(self, message: Message) -> dict[str, object]:
        return (await self.render([message]))[0]

    async def _post(self, post_id: str) -> dict[str, object] | None:
        post = await self._store.get_post(post_id)
        if post is None:
            return None
        return post_json(post, *await self._store.post_counts(post_id))

"""HTTP API of the social plane (``docs/protocol.md``, Social API): thin handlers over ``Fanout``.

Bodies are parsed here, in one place, into frozen dataclasses; handlers raise
``directlive.errors`` and the error middleware turns them into ``{"error": {code, message}}``.
Every list pages with ``?limit=&cursor=`` and answers ``next_cursor`` (null at the end).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from directlive.errors import BadRequest
from fanout import Fanout, LiveInfo
from fanout.models import Thread
from fanout.store import UserList
from signaling.appkeys import CONFIG, FANOUT, USER
from signaling.http_body import query_limit, read_json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_JSON_LIMIT = 64 * 1024


# -- bodies ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SettingsBody:
    private: bool | None
    allow_sharing: bool | None


@dataclass(frozen=True)
class ThreadBody:
    members: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class TextBody:
    text: str


@dataclass(frozen=True)
class MembersBody:
    members: tuple[str, ...]


@dataclass(frozen=True)
class ShareBody:
    users: tuple[str, ...]
    threads: tuple[str, ...]
    all_followers: bool


async def _body(request: web.Request) -> Mapping[str, Any]:
    config = request.app.get(CONFIG)
    limit = config.max_json_bytes if config is not None else DEFAULT_JSON_LIMIT
    raw = await read_json(request, limit)
    if not isinstance(raw, dict):
        raise BadRequest("the body must be a JSON object", code="bad_body")
    return raw


def _field(body: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is default or (isinstance(value, kind) and not (kind is int and value is True)):
        return value
    raise BadRequest(f"{name} must be a {kind.__name__}", code="bad_field")


def _ids(body: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = _field(body, name, list, [])
    if not all(isinstance(item, str) and item for item in value):
        raise BadRequest(f"{name} must be a list of ids", code="bad_field")
    return tuple(value)


async def parse_settings(request: web.Request) -> SettingsBody:
    body = await _body(request)
    return SettingsBody(
        _field(body, "private", bool, None), _field(body, "allow_sharing", bool, None)
    )


async def parse_thread(request: web.Request) -> ThreadBody:
    body = await _body(request)
    return ThreadBody(_ids(body, "members"), _field(body, "name", str, ""))


async def parse_text(request: web.Request) -> TextBody:
    return TextBody(_field(await _body(request), "text", str, ""))


async def parse_members(request: web.Request) -> MembersBody:
    return MembersBody(_ids(await _body(request), "members"))


async def parse_share(request: web.Request) -> ShareBody:
    body = await _body(request)
    return ShareBody(
        _ids(body, "users"), _ids(body, "threads"), _field(body, "all_followers", bool, False)
    )


def _paging(request: web.Request, fanout: Fanout) -> tuple[str, int]:
    limit = query_limit(request, fanout.config.page_limit, fanout.config.max_page)
    return request.query.get("cursor", ""), limit


# -- rendering -------------------------------------------------------------------------------
def _live_json(live: LiveInfo) -> dict[str, object]:
    return {
        "live_id": live.live_id,
        "host": live.host,
        "state": live.state,
        "viewer_count": live.viewer_count,
        "guests": list(live.guests),
        "started_at": live.started_at,
    }


def _thread_json(thread: Thread, user: str) -> dict[str, object]:
    return {
        "thread_id": thread.thread_id,
        "kind": thread.kind,
        "name": thread.name,
        "members": sorted(thread.members),
        "state": {"i": "inbox", "r": "request", "d": "declined"}[thread.members.get(user, "d")],
    }


def _ok(**fields: object) -> web.Response:
    return web.json_response({"ok": True, **fields})


# -- handlers --------------------------------------------------------------------------------
def _handler(
    action: Callable[[web.Request, Fanout, str], Awaitable[web.StreamResponse]],
) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        fanout, me = request.app[FANOUT], request[USER]
        await fanout.ensure_user(me)
        return await action(request, fanout, me)

    return handle


async def get_me(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    settings = await fanout.store.get_settings(me)
    inbox = await fanout.store.page_box(me, "inbox", "", fanout.config.max_page)
    return web.json_response(
        {
            "user": me,
            "settings": {"private": settings.private, "allow_sharing": settings.allow_sharing},
            "unread_threads": sum(1 for e in inbox.items if e.unread),
        }
    )


async def patch_settings(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    body = await parse_settings(request)
    new = await fanout.graph.update_settings(me, body.private, body.allow_sharing)
    return web.json_response({"private": new.private, "allow_sharing": new.allow_sharing})


def _graph_action(name: str) -> Callable[[web.Request, Fanout, str], Awaitable[web.Response]]:
    async def act(request: web.Request, fanout: Fanout, me: str) -> web.Response:
        other = request.match_info["id"]
        if name == "follow":
            return _ok(status=await fanout.graph.follow(me, other))
        actions = {
            "unfollow": fanout.graph.unfollow,
            "approve": fanout.graph.approve,
            "decline": fanout.graph.decline,
            "remove_follower": fanout.graph.remove_follower,
            "block": fanout.graph.block,
            "unblock": fanout.graph.unblock,
        }
        await actions[name](me, other)
        return _ok()

    return act


def _user_list(which: UserList) -> Callable[[web.Request, Fanout, str], Awaitable[web.Response]]:
    async def act(request: web.Request, fanout: Fanout, me: str) -> web.Response:
        owner = request.match_info.get("id", me)
        cursor, limit = _paging(request, fanout)
        page = await fanout.graph.page(me, owner, which, cursor, limit)
        return web.json_response({"users": list(page.items), "next_cursor": page.next_cursor})

    return act


async def create_thread(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    body = await parse_thread(request)
    thread = await fanout.direct.create(me, body.members, body.name)
    return web.json_response(_thread_json(thread, me), status=201)


def _box(box: str) -> Callable[[web.Request, Fanout, str], Awaitable[web.Response]]:
    async def act(request: web.Request, fanout: Fanout, me: str) -> web.Response:
        cursor, limit = _paging(request, fanout)
        page = await fanout.store.page_box(
            me, "inbox" if box == "inbox" else "requests", cursor, limit
        )
        threads = []
        for entry in page.items:
            thread = await fanout.direct.thread(entry.thread_id)
            threads.append(
                {
                    **_thread_json(thread, me),
                    "unread": entry.unread,
                    "last_activity": entry.last_seq,
                }
            )
        return web.json_response({"threads": threads, "next_cursor": page.next_cursor})

    return act


async def thread_action(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    thread_id, action = request.match_info["id"], request.match_info["action"]
    if action == "accept":
        return web.json_response(_thread_json(await fanout.direct.accept(me, thread_id), me))
    if action == "decline":
        await fanout.direct.decline(me, thread_id)
    else:
        await fanout.direct.mark_read(me, thread_id)
    return _ok()


async def get_messages(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    thread = await fanout.direct.readable(me, request.match_info["id"])
    cursor, limit = _paging(request, fanout)
    page = await fanout.store.page_messages(thread.thread_id, cursor, limit)
    messages = await fanout.renderer.render(page.items)
    return web.json_response({"messages": messages, "next_cursor": page.next_cursor})


async def post_message(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    body = await parse_text(request)
    message = await fanout.direct.send_text(me, request.match_info["id"], body.text)
    return web.json_response(await fanout.renderer.render_one(message), status=201)


async def add_members(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    body = await parse_members(request)
    thread = await fanout.direct.add_members(me, request.match_info["id"], body.members)
    return web.json_response(_thread_json(thread, me))


async def remove_member(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    await fanout.direct.remove_member(me, request.match_info["id"], request.match_info["user"])
    return _ok()


async def share_live(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    body = await parse_share(request)
    live = await fanout.get_live(request.match_info["id"])
    result = await fanout.sharing.share(me, live, body.users, body.threads, body.all_followers)
    return web.json_response(
        {"thread_ids": list(result.thread_ids), "followers_share": result.followers_share or None}
    )


async def get_live(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    """The live's card, with whether its host lets viewers reshare it."""
    live = await fanout.visible_live(me, request.match_info["id"])
    allow_sharing = (await fanout.store.get_settings(live.host)).allow_sharing
    return web.json_response({**_live_json(live), "allow_sharing": allow_sharing})


async def get_shares(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    cursor, limit = _paging(request, fanout)
    page = await fanout.shares_feed(me, cursor, limit)
    shares = [
        {"share_id": entry.share_id, "from": entry.sender, **_live_json(live)}
        for entry, live in page.items
    ]
    return web.json_response({"shares": shares, "next_cursor": page.next_cursor})


async def get_user(request: web.Request, fanout: Fanout, me: str) -> web.Response:
    """A profile: privacy, counts, how we relate, and the live I may watch now."""
    profile = await fanout.profile(me, request.match_info["id"])
    live = profile.live
    return web.json_response(
        {
            "user": {
                "id": profile.user,
                "private": profile.private,
                "followers": profile.followers,
                "following": profile.following,
                "i_follow": profile.i_follow,
                "follow_requested": profile.follow_requested,
                "follows_me": profile.follows_me,
                "i_blocked": profile.i_blocked,
                "live": None
                if live is None
                else {"live_id": live.live_id, "viewer_count": live.viewer_count},
            }
        }
    )


def add_social_routes(app: web.Application) -> None:
    """Register the social endpoints on ``app`` (which holds ``FANOUT``; requests ``USER``)."""
    r = app.router
    r.add_get("/api/me", _handler(get_me))
    r.add_patch("/api/me/settings", _handler(patch_settings))
    r.add_get("/api/users/{id}", _handler(get_user))
    r.add_post("/api/users/{id}/follow", _handler(_graph_action("follow")))
    r.add_delete("/api/users/{id}/follow", _handler(_graph_action("unfollow")))
    r.add_post("/api/users/{id}/block", _handler(_graph_action("block")))
    r.add_delete("/api/users/{id}/block", _handler(_graph_action("unblock")))
    r.add_get("/api/users/{id}/followers", _handler(_user_list("followers")))
    r.add_get("/api/users/{id}/following", _handler(_user_list("following")))
    r.add_get("/api/follow-requests", _handler(_user_list("requests")))
    r.add_post("/api/follow-requests/{id}/approve", _handler(_graph_action("approve")))
    r.add_post("/api/follow-requests/{id}/decline", _handler(_graph_action("decline")))
    r.add_delete("/api/followers/{id}", _handler(_graph_action("remove_follower")))
    r.add_post("/api/threads", _handler(create_thread))
    r.add_get("/api/inbox", _handler(_box("inbox")))
    r.add_get("/api/requests", _handler(_box("requests")))
    r.add_post("/api/threads/{id}/{action:accept|decline|read}", _handler(thread_action))
    r.add_get("/api/threads/{id}/messages", _handler(get_messages))
    r.add_post("/api/threads/{id}/messages", _handler(post_message))
    r.add_post("/api/threads/{id}/members", _handler(add_members))
    r.add_delete("/api/threads/{id}/members/{user}", _handler(remove_member))
    r.add_post("/api/lives/{id}/share", _handler(share_live))
    r.add_get("/api/lives/{id}", _handler(get_live))
    r.add_get("/api/shares", _handler(get_shares))

"""The social HTTP API on the real app (memory store): codes, bodies, nothing half-written."""

from __future__ import annotations

from typing import Any

from signaling.appkeys import FANOUT
from tests.server import RunningServer


async def call(
    server: RunningServer, user: str, method: str, path: str, body: Any = None, raw: str = ""
) -> tuple[int, Any]:
    headers = {**server.auth(user), "Content-Type": "application/json"}
    data = raw.encode() if raw else None
    async with server.http.request(
        method, server.url + path, json=body if not raw else None, data=data, headers=headers
    ) as response:
        return response.status, await response.json()


async def hello(server: RunningServer, *users: str) -> None:
    for user in users:
        status, me = await call(server, user, "GET", "/api/me")
        assert (status, me["user"]) == (200, user)


async def test_follow_flow_and_lists(server: RunningServer) -> None:
    await hello(server, "alice", "bob", "carol")
    status, settings = await call(server, "alice", "PATCH", "/api/me/settings", {"private": True})
    assert (status, settings) == (200, {"private": True, "allow_sharing": True})
    assert (await call(server, "bob", "POST", "/api/users/alice/follow"))[1][
        "status"
    ] == "requested"
    assert (await call(server, "carol", "POST", "/api/users/alice/follow"))[1][
        "status"
    ] == "requested"
    status, pending = await call(server, "alice", "GET", "/api/follow-requests?limit=1")
    assert (status, pending["users"]) == (200, ["bob"])
    status, rest = await call(
        server, "alice", "GET", f"/api/follow-requests?cursor={pending['next_cursor']}"
    )
    assert rest == {"users": ["carol"], "next_cursor": None}
    assert (await call(server, "alice", "POST", "/api/follow-requests/bob/approve"))[0] == 200
    status, err = await call(server, "alice", "POST", "/api/follow-requests/dave/approve")
    assert (status, err["error"]["code"]) == (404, "user_not_found")
    status, err = await call(server, "carol", "GET", "/api/users/alice/followers")
    assert (status, err["error"]["code"]) == (403, "private_account")
    status, listing = await call(server, "bob", "GET", "/api/users/alice/followers")
    assert (status, listing["users"]) == (200, ["bob"])
    status, err = await call(server, "bob", "GET", "/api/users/alice/followers?limit=0")
    assert (status, err["error"]["code"]) == (400, "bad_limit")


async def test_threads_messages_and_bad_input(server: RunningServer) -> None:
    await hello(server, "alice", "bob")
    status, thread = await call(server, "alice", "POST", "/api/threads", {"members": ["bob"]})
    assert (status, thread["kind"], thread["state"]) == (201, "dm", "inbox")
    path = f"/api/threads/{thread['thread_id']}"
    status, err = await call(server, "alice", "POST", path + "/messages", raw="{nope")
    assert (status, err["error"]["code"]) == (400, "malformed_json")
    status, err = await call(server, "alice", "POST", path + "/messages", {"text": "x" * 2001})
    assert (status, err["error"]["code"]) == (413, "text_too_long")
    status, err = await call(server, "alice", "POST", path + "/messages", {"text": 5})
    assert (status, err["error"]["code"]) == (400, "bad_field")
    status, err = await call(server, "alice", "POST", "/api/threads/t_nope/messages", {"text": "a"})
    assert (status, err["error"]["code"]) == (404, "thread_not_found")
    status, err = await call(server, "alice", "POST", "/api/threads", {"members": ["ghost"]})
    assert (status, err["error"]["code"]) == (404, "user_not_found")
    assert (await call(server, "alice", "GET", path + "/messages"))[1]["messages"] == []
    assert (await call(server, "alice", "POST", path + "/messages", {"text": "hi"}))[0] == 201
    assert (await call(server, "bob", "GET", "/api/inbox"))[1]["threads"] == []
    status, requests = await call(server, "bob", "GET", "/api/requests")
    assert [t["thread_id"] for t in requests["threads"]] == [thread["thread_id"]]
    assert (await call(server, "bob", "POST", path + "/accept"))[1]["state"] == "inbox"
    status, inbox = await call(server, "bob", "GET", "/api/inbox")
    assert [(t["thread_id"], t["unread"]) for t in inbox["threads"]] == [(thread["thread_id"], 0)]


async def test_share_live_over_http(server: RunningServer) -> None:
    await hello(server, "alice", "bob", "carol")
    await server.app[FANOUT].start_live("alice", "L1")
    await call(server, "carol", "POST", "/api/users/alice/block")
    status, err = await call(server, "alice", "POST", "/api/lives/L1/share", {"users": ["carol"]})
    assert (status, err["error"]["code"]) == (403, "blocked")
    status, shared = await call(server, "alice", "POST", "/api/lives/L1/share", {"users": ["bob"]})
    assert status == 200
    assert len(shared["thread_ids"]) == 1
    status, live = await call(server, "bob", "GET", "/api/lives/L1")
    assert (status, live["state"], live["host"]) == (200, "live", "alice")
    assert (await call(server, "carol", "GET", "/api/lives/L1"))[0] == 404
    await server.app[FANOUT].end_live("L1")
    path = f"/api/threads/{shared['thread_ids'][0]}/messages"
    status, messages = await call(server, "alice", "GET", path)
    assert messages["messages"][0]["live"] == {"state": "ended", "viewer_count": 0}

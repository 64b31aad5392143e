"""Issue 17's defects, one test each (items 1-3 here, on both stores; 4-7 in the next files):
hostile JSON, Redis faults on odd strings, and one user id rule on every door."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import jwt
import pytest
import yarl

from signaling.appkeys import FANOUT
from tests.server import SECRET, RunningServer

ROOT = Path(__file__).resolve().parents[2]
MAX_TTL = 31_622_400
"""The longest token lifetime docs/protocol.md allows (366 days)."""

DEEP_BODIES = {
    "array 5,000 deep": "[" * 5000 + "]" * 5000,
    "object 3,000 deep": '{"a":' * 3000 + "1" + "}" * 3000,
    "unclosed deep array": "[" * 5000,
}
LOOSE_BODIES = {
    "lone surrogate": '{"text": "\\ud800", "members": ["\\udfff"], "private": true}',
    "NaN": '{"text": NaN}',
    "number out of range": '{"text": 1e999}',
    "integer of 5,000 digits": '{"text": ' + "7" * 5000 + "}",
}


async def json_endpoints(server: RunningServer) -> list[tuple[str, str]]:
    """Every endpoint that reads a JSON body, with ids that exist."""
    fanout = server.app[FANOUT]
    for user in ("alice", "bob", "carol"):
        await fanout.ensure_user(user)
    dm = await fanout.direct.create("alice", ["bob"])
    await fanout.start_live("alice", "L1")
    return [
        ("PATCH", "/api/me/settings"),
        ("POST", "/api/threads"),
        ("POST", f"/api/threads/{dm.thread_id}/messages"),
        ("POST", f"/api/threads/{dm.thread_id}/members"),
        ("POST", f"/api/threads/{dm.thread_id}/posts"),
        ("POST", "/api/lives/L1/share"),
        ("POST", "/api/posts/p_nope/comments"),
        ("POST", "/api/recordings/L1/share"),
    ]


async def post_raw(
    server: RunningServer, user: str, method: str, path: str, body: str
) -> tuple[int, str]:
    headers = {**server.auth(user), "Content-Type": "application/json"}
    async with server.http.request(method, server.url + path, data=body, headers=headers) as r:
        return r.status, (await r.json())["error"]["code"]


@pytest.mark.parametrize("kind", [*DEEP_BODIES, *LOOSE_BODIES])
async def test_item1_hostile_json_bodies_are_malformed_json_on_every_endpoint(
    any_server: RunningServer, kind: str
) -> None:
    body = {**DEEP_BODIES, **LOOSE_BODIES}[kind]
    for method, path in await json_endpoints(any_server):
        assert await post_raw(any_server, "alice", method, path, body) == (
            400,
            "malformed_json",
        ), (kind, method, path)
    status, me = await any_server.api("alice", "GET", "/api/me")
    assert (status, me["settings"]["private"]) == (200, False), "nothing was written"


@pytest.mark.parametrize("kind", [*DEEP_BODIES, *LOOSE_BODIES])
async def test_item1_hostile_json_on_the_socket_is_an_error_and_the_socket_stays_open(
    any_server: RunningServer, kind: str
) -> None:
    socket = await any_server.socket("mallory")
    try:
        body = {**DEEP_BODIES, **LOOSE_BODIES}[kind]
        await socket.ws.send_str(body.replace('{"text"', '{"type": "comment", "text"', 1))
        error = await socket.next_of("error")
        assert error["code"] == "malformed_json", error
        assert (await socket.request({"type": "ping"}))["type"] == "pong"
        assert not socket.ws.closed
    finally:
        await socket.close()


ODD_STRING_MESSAGES = [
    {"type": "room.join", "live_id": "\ud800"},
    {"type": "comment", "live_id": "L1", "text": "hi \udfff"},
    {"type": "join.request", "live_id": "\udbff"},
    {"type": "comments.recent", "live_id": "\ud800\ud800"},
    {"type": "watch", "live_id": "L1", "sdp": "v=0\ud800"},
    {"type": "join.invite", "live_id": "L1", "user": "\udc00"},
]


@pytest.mark.parametrize("message", ODD_STRING_MESSAGES, ids=lambda m: str(m["type"]))
async def test_item2_lone_surrogates_get_a_typed_error_not_internal(
    any_server: RunningServer, message: dict[str, str]
) -> None:
    """On Redis these reached the store and failed to encode (``internal``)."""
    await any_server.app[FANOUT].start_live("alice", "L1")
    socket = await any_server.socket("mallory")
    try:
        text = json.dumps({**message, "id": 1})  # ASCII: surrogates as \\udXXX escapes
        await socket.ws.send_str(text)
        reply = await socket.next_of("error", id=1)
        assert reply["code"] == "malformed_json", reply
        assert (await socket.request({"type": "ping"}))["type"] == "pong"
    finally:
        await socket.close()


def forged_token(sub: str, ttl: int = 3600) -> str:
    """Signed with the test server's key, naming any ``sub`` (the issuer would refuse)."""
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + ttl, "iss": "directlive"}
    return jwt.encode(claims, hashlib.sha256(SECRET.encode()).digest(), algorithm="HS256")


@pytest.mark.parametrize(
    "token",
    [
        forged_token("alice\n"),
        forged_token("Alice"),
        forged_token("alice" + "x" * 40),
        forged_token("alice", ttl=MAX_TTL + 3600),
    ],
    ids=["trailing newline", "capital", "too long", "lifetime over a year"],
)
async def test_item3_every_door_refuses_a_token_naming_no_valid_user(
    server: RunningServer, token: str
) -> None:
    bearer = {"Authorization": f"Bearer {token}"}
    async with server.http.get(server.url + "/api/me", headers=bearer) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_token"
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await server.http.ws_connect(server.url + "/ws", headers=bearer)
    assert handshake.value.status == 401
    ws = await server.http.ws_connect(server.url + "/ws")
    await ws.send_json({"type": "auth", "token": token})
    refusal = await ws.receive_json(timeout=5)
    assert (refusal["type"], refusal["code"]) == ("error", "invalid_token")
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4001
    await ws.close()


@pytest.mark.parametrize("ttl", ["99999999999999999999", "0", "-5", str(MAX_TTL + 1), "soon"])
def test_item3_the_cli_refuses_a_ttl_no_one_means(tmp_path: Path, ttl: str) -> None:
    env = {**os.environ, "DIRECTLIVE_SECRET": "x"}
    done = subprocess.run(
        [sys.executable, "-m", "signaling.cli", "token", "alice", "--ttl", ttl],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stdout
    assert done.stdout == "", "no token minted"
    assert "--ttl" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("cursor", ["abc", "%ED%A0%80", "%FF", "-1", "1e5", "1.5", "9" * 30])
async def test_a_cursor_the_server_did_not_hand_out_is_bad_cursor(
    any_server: RunningServer, cursor: str
) -> None:
    """Found by the fuzz suite: such a cursor reached the store (500 on both stores)."""
    fanout = any_server.app[FANOUT]
    for user in ("alice", "bob", "carol"):
        await fanout.ensure_user(user)
    dm = await fanout.direct.create("alice", ["bob"])
    await fanout.direct.create("alice", ["carol"])
    lists = [
        "/api/inbox",
        "/api/requests",
        "/api/shares",
        "/api/recordings",
        f"/api/threads/{dm.thread_id}/messages",
        f"/api/threads/{dm.thread_id}/posts",
    ]
    for path in lists:
        url = yarl.URL(f"{any_server.url}{path}?cursor={cursor}", encoded=True)
        async with any_server.http.get(url, headers=any_server.auth("alice")) as response:
            body = await response.json()
            assert (response.status, body["error"]["code"]) == (400, "bad_cursor"), path
    status, first = await any_server.api("alice", "GET", "/api/inbox?limit=1")
    assert status == 200
    status, rest = await any_server.api("alice", "GET", f"/api/inbox?cursor={first['next_cursor']}")
    assert (status, len(rest["threads"])) == (200, 1)

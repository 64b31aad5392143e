"""The race suite, on both stores: follows, unfollows, removals, blocks and privacy switches
run at the same time as viewers join and leave a real live (aiortc peers over WHEP).

Afterwards the state must be consistent: no viewer session of a user who may not watch (a
non-follower of a private host, someone across a block), follows and follower lists that
mirror each other, no follow across a block; and every answer must match its effect: only
the documented outcomes of each request, a 201 watch that is still attached unless revoked
afterwards, a revoked viewer told so.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from dataclasses import dataclass, field

from directlive.errors import DirectliveError
from signaling.appkeys import FANOUT, STREAMER
from tests.media.peers import Viewer
from tests.server import RunningServer, WhepRefused, go_live

HOST = "alice"
USERS = ("bob", "carol", "dave", "erin")
ROUNDS = 8

ALLOWED: dict[str, set[tuple[int, str]]] = {
    "follow": {(200, "ok"), (404, "user_not_found")},
    "unfollow": {(200, "ok")},
    "remove_follower": {(200, "ok"), (404, "follower_not_found")},
    "approve": {(200, "ok"), (404, "request_not_found")},
    "block": {(200, "ok")},
    "unblock": {(200, "ok")},
    "privacy": {(200, "ok")},
    "watch": {(201, "ok"), (403, "private_account"), (403, "blocked")},
    "leave": {(200, "ok"), (404, "session_not_found")},
}
"""What each request may answer while everything else races it."""


@dataclass
class Outcomes:
    seen: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    viewers: list[Viewer] = field(default_factory=list)

    def note(self, op: str, status: int, code: str) -> None:
        self.seen[(op, status, code)] += 1
        assert (status, code) in ALLOWED[op], (op, status, code)


async def call(
    server: RunningServer,
    out: Outcomes,
    op: str,
    user: str,
    method: str,
    path: str,
    body: object = None,
) -> None:
    status, reply = await server.api(user, method, path, body)
    code = reply["error"]["code"] if status >= 400 else "ok"
    out.note(op, status, code)


async def social_actor(server: RunningServer, out: Outcomes, user: str, rng: random.Random) -> None:
    for _ in range(ROUNDS):
        choice = rng.choice(["follow", "follow", "unfollow", "block", "unblock"])
        if choice == "follow":
            await call(server, out, "follow", user, "POST", f"/api/users/{HOST}/follow")
        elif choice == "unfollow":
            await call(server, out, "unfollow", user, "DELETE", f"/api/users/{HOST}/follow")
        elif choice == "block" and rng.random() < 0.3:
            await call(server, out, "block", user, "POST", f"/api/users/{HOST}/block")
        else:
            await call(server, out, "unblock", user, "DELETE", f"/api/users/{HOST}/block")
        await asyncio.sleep(rng.random() * 0.05)


async def host_actor(server: RunningServer, out: Outcomes, rng: random.Random) -> None:
    for _ in range(ROUNDS * 2):
        target = rng.choice(USERS)
        choice = rng.choice(["privacy", "approve", "approve", "remove_follower", "block"])
        if choice == "privacy":
            body = {"private": rng.random() < 0.6}
            await call(server, out, "privacy", HOST, "PATCH", "/api/me/settings", body)
        elif choice == "approve":
            path = f"/api/follow-requests/{target}/approve"
            await call(server, out, "approve", HOST, "POST", path)
        elif choice == "remove_follower":
            path = f"/api/followers/{target}"
            await call(server, out, "remove_follower", HOST, "DELETE", path)
        elif rng.random() < 0.3:
            await call(server, out, "block", HOST, "POST", f"/api/users/{target}/block")
            await call(server, out, "unblock", HOST, "DELETE", f"/api/users/{target}/block")
        await asyncio.sleep(rng.random() * 0.05)


async def viewer_actor(
    server: RunningServer, out: Outcomes, user: str, live_id: str, rng: random.Random
) -> None:
    for _ in range(ROUNDS // 2):
        viewer = Viewer(audio=False)
        out.viewers.append(viewer)
        locations: list[str] = []

        async def exchange(sdp: str, user: str = user, locations: list[str] = locations) -> str:
            location, answer = await server.whep(user, live_id, sdp)
            locations.append(location)
            return answer

        try:
            await viewer.watch(exchange)
        except WhepRefused as refused:
            out.note("watch", refused.status, refused.code)
            await viewer.close()
            await asyncio.sleep(rng.random() * 0.1)
            continue
        out.note("watch", 201, "ok")
        await asyncio.sleep(rng.random() * 0.2)
        if rng.random() < 0.6:
            async with server.http.delete(
                server.url + locations[0], headers=server.auth(user)
            ) as response:
                code = "ok" if response.status == 200 else (await response.json())["error"]["code"]
                out.note("leave", response.status, code)
            await viewer.close()


async def check_consistent(server: RunningServer, live_id: str) -> None:
    fanout = server.app[FANOUT]
    store = fanout.store
    for session in list(server.app[STREAMER].get(live_id).viewers.values()):
        try:
            await fanout.authorize_read(session.user, live_id)
        except DirectliveError as refused:
            raise AssertionError(f"{session.user} still watches ({refused.code})") from refused
    private = (await store.get_settings(HOST)).private
    followers = set((await store.page_users(HOST, "followers", "", 100)).items)
    for user in USERS:
        rel = await store.relation(user, HOST)
        following = set((await store.page_users(user, "following", "", 100)).items)
        assert rel.following == (user in followers) == (HOST in following), user
        assert not (rel.blocked_either and (rel.following or rel.followed_by)), user
        assert not (rel.requested and rel.following), user
        assert not (rel.requested and not private), f"{user}: a request to a public account"


async def run_races(server: RunningServer, seed: int) -> Outcomes:
    for user in (HOST, *USERS):
        assert (await server.api(user, "GET", "/api/me"))[0] == 200
    live_id, publisher = await go_live(server, HOST)
    out = Outcomes()
    rng = random.Random(seed)
    try:
        await asyncio.gather(
            host_actor(server, out, random.Random(rng.random())),
            *(social_actor(server, out, u, random.Random(rng.random())) for u in USERS),
            *(viewer_actor(server, out, u, live_id, random.Random(rng.random())) for u in USERS),
        )
        await check_consistent(server, live_id)
        # Going private (again) evicts every viewer who does not follow, before it answers.
        await call(server, out, "privacy", HOST, "PATCH", "/api/me/settings", {"private": True})
        await check_consistent(server, live_id)
        followers = set(
            (await server.app[FANOUT].store.page_users(HOST, "followers", "", 100)).items
        )
        watching = server.app[STREAMER].get(live_id).viewer_users()
        assert set(watching) <= followers, (watching, followers)
    finally:
        for viewer in out.viewers:
            await viewer.close()
        await publisher.close()
    return out


async def test_revocations_race_viewers_joining_and_leaving(any_server: RunningServer) -> None:
    out = await run_races(any_server, seed=int(os.environ.get("DIRECTLIVE_RACE_SEED", "17")))
    ops = {op for op, _, _ in out.seen}
    assert {"follow", "unfollow", "watch", "privacy"} <= ops, out.seen
    assert out.seen[("watch", 201, "ok")] > 0, out.seen


async def test_a_watch_negotiating_while_the_host_goes_private_is_not_left_attached(
    any_server: RunningServer,
) -> None:
    """The watch was allowed when it started; the switch's re-check ran before the session
    was attached. The watch must be refused (or evicted), not left watching."""
    server = any_server
    for user in (HOST, "bob"):
        assert (await server.api(user, "GET", "/api/me"))[0] == 200
    live_id, publisher = await go_live(server, HOST)
    streamer = server.app[STREAMER]
    viewers: list[Viewer] = []
    try:
        for attempt in range(6):
            assert (await server.api(HOST, "PATCH", "/api/me/settings", {"private": False}))[0]
            viewer = Viewer(audio=False)
            viewers.append(viewer)

            async def exchange(sdp: str) -> str:
                return (await server.whep("bob", live_id, sdp))[1]

            async def go_private(delay: float) -> None:
                await asyncio.sleep(delay)
                status, _ = await server.api(HOST, "PATCH", "/api/me/settings", {"private": True})
                assert status == 200

            watched, _ = await asyncio.gather(
                viewer.watch(exchange), go_private(0.005 * attempt), return_exceptions=True
            )
            if watched is not None:
                assert isinstance(watched, WhepRefused), watched
                assert watched.code == "private_account"
            assert "bob" not in streamer.get(live_id).viewer_users(), attempt
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()

"""Session follow-ups on any node, three real nodes on one Redis: a viewer's trickle and
leave, the host's trickle, sent to another node than the one holding the session, are
forwarded there (signed) and answered as that node would; signed node calls are accepted
once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import redis.asyncio as aioredis

from directlive.node_keys import node_key, sign_request
from fanout.redis_launcher import free_port
from signaling.session_ids import SessionIds
from signaling.trickle import CONTENT_TYPE
from tests.cluster.nodes import Cluster, ClusterNode
from tests.cluster.relay_support import wait_for_metric
from tests.media.peers import Viewer, publish, wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack
from tests.server import SECRET

VIEWERS = "directlive_viewers"


@dataclass
class Session:
    """A WHIP/WHEP session as its client knows it: the URL path and the ETag of the 201."""

    path: str
    etag: str


async def whep_session(node: ClusterNode, user: str, live_id: str) -> tuple[Viewer, Session]:
    viewer = Viewer(audio=False)
    sessions: list[Session] = []

    async def exchange(sdp: str) -> str:
        headers = {**node.auth(user), "Content-Type": "application/sdp"}
        url = f"{node.url}/whep/{live_id}"
        async with node.http.post(url, data=sdp, headers=headers) as response:
            body = await response.text()
            assert response.status == 201, body
            sessions.append(Session(response.headers["Location"], response.headers["ETag"]))
            return body

    try:
        await viewer.watch(exchange)
    except BaseException:
        await viewer.close()
        raise
    return viewer, sessions[0]


def fragment(pc_sdp: str) -> str:
    """One of the client's own loopback candidates, trickled again (the server accepts it)."""
    line = next(x for x in pc_sdp.splitlines() if x.startswith("a=candidate:"))
    return f"a=mid:0\r\n{line}\r\n"


async def call(
    node: ClusterNode,
    method: str,
    path: str,
    user: str,
    *,
    etag: str | None = None,
    body: str = "",
    content_type: str = CONTENT_TYPE,
) -> tuple[int, str]:
    """A follow-up sent to ``node`` as ``user``: (status, error code or "")."""
    headers = {**node.auth(user), "Content-Type": content_type}
    if etag is not None:
        headers["If-Match"] = etag
    async with node.http.request(method, node.url + path, headers=headers, data=body) as answer:
        text = await answer.text()
        return answer.status, json.loads(text)["error"]["code"] if answer.status >= 400 else ""


async def signed(node: ClusterNode, method: str, path: str, body: bytes) -> tuple[int, str]:
    """A signed internal call to ``node`` from a node ``b`` (freshly signed every time)."""
    headers = sign_request(node_key(SECRET), "b", method, path, body)
    return await resend(node, method, path, body, headers)


async def resend(
    node: ClusterNode, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    async with node.http.request(method, node.url + path, data=body, headers=headers) as answer:
        text = await answer.text()
        return answer.status, json.loads(text)["error"]["code"] if answer.status >= 400 else ""


async def poll(probe: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_follow_ups_work_on_any_node_and_node_calls_are_accepted_once(
    cluster: Cluster,
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    redis = aioredis.Redis.from_url(cluster.redis_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(redis.aclose)
        host_session: list[Session] = []

        async def host_exchange(sdp: str) -> str:
            headers = {**a.auth("alice"), "Content-Type": "application/sdp"}
            async with a.http.post(f"{a.url}/whip", data=sdp, headers=headers) as response:
                body = await response.text()
                assert response.status == 201, body
                host_session.append(Session(response.headers["Location"], response.headers["ETag"]))
                return body

        publisher = await publish([CounterVideoTrack(), ToneAudioTrack()], host_exchange)
        stack.push_async_callback(publisher.close)
        live_id = host_session[0].path.rsplit("/", 1)[1]

        bob, bob_session = await whep_session(b, "bob", live_id)
        stack.push_async_callback(bob.close)
        carol, carol_session = await whep_session(b, "carol", live_id)
        stack.push_async_callback(carol.close)
        await wait_for(lambda: len(bob.received.counters) >= 3, 20, "bob decodes on b")
        await wait_for_metric(b, VIEWERS, 2)
        assert bob.pc.localDescription is not None
        trickle = fragment(bob.pc.localDescription.sdp)
        path = bob_session.path

        # Bob's session is on b; its follow-ups work on every node, answered as b would.
        assert await call(c, "PATCH", path, "bob", etag=bob_session.etag, body=trickle) == (204, "")
        assert await call(a, "PATCH", path, "bob", etag='"nope"', body=trickle) == (
            412,
            "etag_mismatch",
        )
        assert await call(a, "PATCH", path, "bob", body=trickle) == (428, "if_match_required")
        assert await call(c, "PATCH", path, "carol", etag=bob_session.etag, body=trickle) == (
            403,
            "not_your_session",
        )
        assert await call(c, "DELETE", path, "carol") == (403, "not_your_session")
        oversized = trickle + "a=ice-options:trickle\r\n" * 1000
        assert await call(c, "PATCH", path, "bob", etag=bob_session.etag, body=oversized) == (
            413,
            "payload_too_large",
        )
        plain = "text/plain"
        assert await call(
            c, "PATCH", path, "bob", etag=bob_session.etag, body=trickle, content_type=plain
        ) == (415, "unsupported_media_type")
        unknown = f"/whep/{live_id}/{SessionIds('b', node_key(SECRET)).mint()}"
        assert await call(c, "DELETE", unknown, "bob") == (404, "session_not_found")
        forged = path[: path.rindex(".")] + ".AAAAAAAAAAAAAAAAAAAAAA"
        assert await call(a, "DELETE", forged, "bob") == (404, "session_not_found")
        # The host's publishing session is on a: its trickle works through b too.
        assert publisher.localDescription is not None
        host_trickle = fragment(publisher.localDescription.sdp)
        host = host_session[0]
        assert await call(b, "PATCH", host.path, "alice", etag=host.etag, body=host_trickle) == (
            204,
            "",
        )
        assert await call(c, "PATCH", host.path, "alice", etag='"x"', body=host_trickle) == (
            412,
            "etag_mismatch",
        )
        assert await call(c, "PATCH", host.path, "bob", etag=host.etag, body=host_trickle) == (
            403,
            "not_your_session",
        )

        # A guest publishes over WHIP through b (forwarded to a): the ETag b gave verifies
        # on a, and the guest's trickle and leave work through c.
        alice_socket = await a.socket("alice")
        stack.push_async_callback(alice_socket.close)
        erin_socket = await b.socket("erin")
        stack.push_async_callback(erin_socket.close)
        asked = await erin_socket.request({"type": "join.request", "live_id": live_id})
        assert asked["type"] == "join.request.ok", asked
        accepted = await alice_socket.request(
            {"type": "join.accept", "live_id": live_id, "user": "erin"}
        )
        assert accepted["type"] == "join.accept.ok", accepted
        guest_session: list[Session] = []

        async def guest_exchange(sdp: str) -> str:
            headers = {**b.auth("erin"), "Content-Type": "application/sdp"}
            url = f"{b.url}/whip/{live_id}"
            async with b.http.post(url, data=sdp, headers=headers) as response:
                body = await response.text()
                assert response.status == 201, body
                guest_session.append(
                    Session(response.headers["Location"], response.headers["ETag"])
                )
                return body

        guest = await publish([CounterVideoTrack()], guest_exchange)
        stack.push_async_callback(guest.close)
        assert guest.localDescription is not None
        erin = guest_session[0]
        guest_trickle = fragment(guest.localDescription.sdp)
        assert await call(c, "PATCH", erin.path, "erin", etag=erin.etag, body=guest_trickle) == (
            204,
            "",
        )
        assert await call(c, "PATCH", erin.path, "bob", etag=erin.etag, body=guest_trickle) == (
            403,
            "not_your_session",
        )
        assert await call(c, "DELETE", erin.path, "erin") == (200, "")

        # Bob leaves through a: his session on b is gone, b counts one viewer, his media stops.
        assert await call(a, "DELETE", path, "bob") == (200, "")
        await wait_for_metric(b, VIEWERS, 1)
        await wait_for(
            lambda: bob.pc.connectionState in ("closed", "failed"), 10, "bob's media stops"
        )
        assert await call(c, "DELETE", path, "bob") == (404, "session_not_found")
        assert len(carol.received.counters) > 0  # carol still watches on b

        # A signed internal call acts once; the same call again is refused before acting.
        internal = f"/internal/follow-up{carol_session.path}"
        body = json.dumps(
            {"user": "carol", "if_match": None, "content_type": "", "body": ""}
        ).encode()
        headers = sign_request(node_key(SECRET), "c", "DELETE", internal, body)
        assert await resend(b, "DELETE", internal, body, headers) == (200, "")
        await wait_for_metric(b, VIEWERS, 0)
        assert await resend(b, "DELETE", internal, body, headers) == (401, "replayed_node_call")
        assert await resend(a, "DELETE", internal, body, headers) == (401, "replayed_node_call")
        assert await signed(b, "DELETE", internal, body) == (404, "session_not_found")
        assert await redis.keys("dl:node-call:*")  # claimed nonces, expiring

        # A holder alive (heartbeating) but not answering: 503; a killed holder: 404.
        ghost_url = f"http://127.0.0.1:{free_port()}"
        await redis.set("dl:node:{ghost}:alive", ghost_url, px=60_000)
        ghost_session = f"/whep/{live_id}/{SessionIds('ghost', node_key(SECRET)).mint()}"
        assert await call(a, "DELETE", ghost_session, "bob") == (503, "session_node_unreachable")
        dave, dave_session = await whep_session(c, "dave", live_id)
        stack.push_async_callback(dave.close)
        await wait_for_metric(c, VIEWERS, 1)
        c.kill()  # its heartbeat expires within 3 s

        async def answered_404() -> bool:
            got = await call(b, "DELETE", dave_session.path, "dave")
            assert got in ((503, "session_node_unreachable"), (404, "session_not_found")), got
            return got == (404, "session_not_found")

        await poll(answered_404, 10, "the session died with its node")

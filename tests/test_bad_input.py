"""Bad input gets a precise error, and nobody else's session notices."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from signaling.auth import TokenIssuer
from tests.cluster.relay_support import metrics
from tests.media.peers import Viewer, wait_for
from tests.server import RunningServer, go_live
from tests.test_whip_whep import whep_exchange

SDP = {"Content-Type": "application/sdp"}


async def error_of(response: aiohttp.ClientResponse) -> tuple[int, str]:
    body = await response.json()
    return response.status, body["error"]["code"]


async def test_bad_http_requests_get_precise_errors_and_the_live_goes_on(
    server: RunningServer,
) -> None:
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer(audio=False)
    exchange, _ = whep_exchange(server, "bob", live_id)
    await viewer.watch(exchange)
    http, url = server.http, server.url
    expired = TokenIssuer("test-secret-not-for-production").mint("bob", ttl=-10)
    forged = TokenIssuer("another-secret").mint("bob")
    cases: list[tuple[str, str, dict[str, str], str | bytes, tuple[int, str]]] = [
        ("POST", "/whip", SDP, "v=0", (401, "missing_token")),
        ("POST", "/whip", {**SDP, "Authorization": "Basic abc"}, "v=0", (401, "invalid_token")),
        (
            "POST",
            "/whip",
            {**SDP, "Authorization": f"Bearer {forged}"},
            "v=0",
            (401, "invalid_token"),
        ),
        (
            "POST",
            "/whip",
            {**SDP, "Authorization": f"Bearer {expired}"},
            "v=0",
            (401, "token_expired"),
        ),
        (
            "POST",
            "/whip",
            {**server.auth("eve"), "Content-Type": "text/plain"},
            "v=0",
            (415, "unsupported_media_type"),
        ),
        ("POST", "/whip", {**server.auth("eve"), **SDP}, "hello", (400, "bad_sdp")),
        (
            "POST",
            "/whip",
            {**server.auth("eve"), **SDP},
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nbroken",
            (400, "bad_sdp"),
        ),
        (
            "POST",
            "/whip",
            {**server.auth("eve"), **SDP},
            "v=0\r\n" + "a=x\r\n" * 40000,
            (413, "payload_too_large"),
        ),
        (
            "POST",
            "/whep/nosuchlive",
            {**server.auth("eve"), **SDP},
            "v=0\r\nm=video 9 x 96\r\n",
            (404, "live_not_found"),
        ),
        ("DELETE", "/whip/nosuchlive", server.auth("eve"), "", (404, "live_not_found")),
        ("DELETE", f"/whip/{live_id}", server.auth("eve"), "", (403, "not_host")),
        (
            "DELETE",
            f"/whep/{live_id}/nosuchsession",
            server.auth("eve"),
            "",
            (404, "session_not_found"),
        ),
        ("GET", "/nosuchpath", server.auth("eve"), "", (404, "not_found")),
        ("GET", "/metrics", {}, "", (401, "missing_token")),
        ("GET", "/api/inbox?limit=%C2%B2", server.auth("eve"), "", (400, "bad_limit")),
        ("GET", "/api/inbox?limit=0", server.auth("eve"), "", (400, "bad_limit")),
    ]
    try:
        for method, path, headers, body, expected in cases:
            async with http.request(method, url + path, headers=headers, data=body) as response:
                assert await error_of(response) == expected, (method, path, expected)
        async with http.get(url + "/healthz") as response:
            assert response.status == 200
        alice = await server.socket("alice")
        garbage = await alice.request(
            {"type": "ice", "live_id": live_id, "candidate": "candidate:x"}
        )
        await alice.close()
        assert (garbage["type"], garbage["code"]) == ("error", "bad_candidate")
        before = len(viewer.received.counters)
        await wait_for(lambda: len(viewer.received.counters) > before + 15, 10, "frames go on")
    finally:
        await viewer.close()
        await publisher.close()


async def test_metrics_count_forwarding(server: RunningServer) -> None:
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer(audio=False)
    exchange, _ = whep_exchange(server, "bob", live_id)
    try:
        await viewer.watch(exchange)
        await wait_for(lambda: len(viewer.received.counters) >= 30, 15, "frames")
        deadline = time.monotonic() + 10
        # Media workers report their counters to the main process periodically.
        while (values := await metrics(server)).get("directlive_frames_forwarded_total", 0) < 10:
            assert time.monotonic() < deadline, f"forwarding not counted: {values}"
            await asyncio.sleep(0.1)
        assert values["directlive_lives"] == 1
        assert values["directlive_viewers"] == 1
        assert values["directlive_frames_forwarded_total"] >= 10
        assert values["directlive_bytes_forwarded_total"] > 0
        assert values["directlive_socket_overflow_drops_total"] == 0
        assert "directlive_room_events_queued_total" in values
    finally:
        await viewer.close()
        await publisher.close()


async def test_cors_preflight_and_exposed_location(server: RunningServer) -> None:
    headers = {
        "Origin": "http://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with server.http.options(f"{server.url}/whip", headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "http://app.example"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
        assert "Location" in response.headers["Access-Control-Expose-Headers"]
    evil = {**headers, "Origin": "http://evil.example"}
    async with server.http.options(f"{server.url}/whep/x", headers=evil) as response:
        assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "malformed_json"),
        ("[1, 2]", "bad_message"),
        ('{"type": 3}', "bad_message"),
        ('{"type": "fly", "id": 7}', "unknown_type"),
        ('{"type": "watch", "id": 8}', "bad_message"),
        (
            '{"type": "watch", "id": 9, "live_id": "nope", "sdp": "v=0\\r\\nm=video 9 x 96"}',
            "live_not_found",
        ),
        ('{"type": "live.end", "id": 10, "live_id": "nope"}', "live_not_found"),
        ('{"type": "auth", "id": 11, "token": "x"}', "already_authenticated"),
    ],
)
async def test_bad_socket_messages_get_typed_errors(
    server: RunningServer, message: str, code: str
) -> None:
    socket = await server.socket("mallory")
    try:
        await socket.ws.send_str(message)
        error = await socket.next_of("error")
        assert error["code"] == code
        assert (await socket.request({"type": "ping"}))["type"] == "pong"
    finally:
        await socket.close()


async def test_socket_requires_auth(server: RunningServer) -> None:
    ws = await server.http.ws_connect(f"{server.url}/ws")
    await ws.send_json({"type": "ping"})
    reply = await ws.receive_json(timeout=5)
    assert (reply["type"], reply["code"]) == ("error", "auth_required")
    await ws.receive(timeout=5)
    assert ws.closed
    ws = await server.http.ws_connect(f"{server.url}/ws")
    await ws.send_json({"type": "auth", "token": server.tokens.mint("bob")})
    hello = await ws.receive_json(timeout=5)
    assert hello == {"type": "hello", "user": "bob"}
    await ws.close()

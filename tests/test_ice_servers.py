"""ICE servers for clients (RFC 9725 4.6 Link headers, /api/ice-servers) and announced
addresses in the server's SDP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from directlive.errors import BadRequest
from signaling.announce import (
    announce_addresses_from_env,
    announce_candidates,
    parse_announce_addresses,
)
from signaling.ice_servers import IceServerConfig, ice_servers_for
from tests.media.peers import Viewer
from tests.server import RunningServer, go_live, running_server, server_config
from tests.test_cli import directlive

SECRET = "coturn-shared-secret"
ICE = IceServerConfig(
    stun_urls=("stun:stun.example.test:3478",),
    turn_urls=(
        "turn:turn.example.test:3478?transport=udp",
        "turn:turn.example.test:443?transport=tcp",
    ),
    turn_secret=SECRET,
    turn_ttl=600,
)
LINK = re.compile(
    r'^<(?P<url>[^>]+)>; rel="ice-server"'
    r'(; username="(?P<username>[^"]+)"; credential="(?P<credential>[^"]+)";'
    r' credential-type="password")?$'
)


@pytest.fixture
async def ice_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, ice_servers=ICE)) as running:
        yield running


def check_links(values: list[str], user: str) -> None:
    """The three configured servers, TURN ones with a coturn credential for ``user``."""
    parsed = [LINK.match(value) for value in values]
    assert all(parsed), values
    urls = [m["url"] for m in parsed if m]
    assert urls == [*ICE.stun_urls, *ICE.turn_urls]
    for match in parsed[1:]:
        assert match is not None
        expiry, named = match["username"].split(":")
        assert named == user
        assert 590 <= int(expiry) - time.time() <= 610
        digest = hmac.new(SECRET.encode(), match["username"].encode(), hashlib.sha1).digest()
        assert match["credential"] == base64.b64encode(digest).decode()
    assert parsed[0] is not None
    assert parsed[0]["username"] is None


def test_turn_rest_credentials() -> None:
    servers = ice_servers_for("bob", ICE, now=1_000_000)
    assert [s.url for s in servers] == [*ICE.stun_urls, *ICE.turn_urls]
    turn = servers[1]
    assert turn.username == "1000600:bob"
    # the value coturn computes for secret "coturn-shared-secret" and this username
    expected = hmac.new(SECRET.encode(), b"1000600:bob", hashlib.sha1).digest()
    assert turn.credential == base64.b64encode(expected).decode()
    assert servers[0].as_json() == {"urls": "stun:stun.example.test:3478"}
    assert turn.as_json() == {
        "urls": ICE.turn_urls[0],
        "username": "1000600:bob",
        "credential": turn.credential,
    }


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"turn_urls": ("turn:t.test:3478",)}, "--turn-secret"),
        ({"stun_urls": ("turn:t.test:3478",)}, "stun:"),
        ({"turn_urls": ("http://t.test",), "turn_secret": "s"}, "not a STUN/TURN URL"),
        ({"turn_urls": ("turn:t.test",), "turn_secret": "s", "turn_ttl": 0}, "positive"),
    ],
)
def test_bad_ice_server_config(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        IceServerConfig(**kwargs)  # type: ignore[arg-type]


async def test_link_headers_on_whip_whep_and_options(ice_server: RunningServer) -> None:
    server = ice_server
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer()
    try:
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        assert viewer.pc.localDescription is not None
        headers = {**server.auth("bob"), "Content-Type": "application/sdp"}
        url = f"{server.url}/whep/{live_id}"
        sdp = viewer.pc.localDescription.sdp
        async with server.http.post(url, data=sdp, headers=headers) as response:
            assert response.status == 201
            check_links(response.headers.getall("Link"), "bob")
            assert response.headers["ETag"].startswith('"')
        for path in ("/whip", f"/whep/{live_id}"):
            async with server.http.options(server.url + path, headers=server.auth("carol")) as r:
                assert r.status == 204
                assert r.headers["Accept-Post"] == "application/sdp"
                check_links(r.headers.getall("Link"), "carol")
        async with server.http.options(server.url + "/whip") as response:
            assert response.status == 204, "an anonymous OPTIONS stays a plain 204"
            assert "Link" not in response.headers
        preflight = {
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "PATCH",
            "Authorization": "Bearer x",
        }
        async with server.http.options(f"{server.url}/whep/{live_id}", headers=preflight) as r:
            assert r.status == 204
            assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
            assert "If-Match" in r.headers["Access-Control-Allow-Headers"]
        async with server.http.options(
            server.url + "/whip", headers={"Authorization": "Bearer bad"}
        ) as r:
            assert r.status == 401
    finally:
        await viewer.close()
        await publisher.close()


async def test_api_ice_servers_needs_a_token(ice_server: RunningServer) -> None:
    server = ice_server
    status, body = await server.api("dora", "GET", "/api/ice-servers")
    assert status == 200
    assert [s["urls"] for s in body["ice_servers"]] == [*ICE.stun_urls, *ICE.turn_urls]
    assert body["ice_servers"][1]["username"].endswith(":dora")
    assert body["ttl"] == 600
    async with server.http.get(server.url + "/api/ice-servers") as response:
        assert response.status == 401
    cors = {"Origin": "http://app.example", **server.auth("dora")}
    async with server.http.get(server.url + "/api/ice-servers", headers=cors) as response:
        exposed = response.headers["Access-Control-Expose-Headers"]
        assert {"Link", "ETag", "Location"} <= {h.strip() for h in exposed.split(",")}


async def test_no_ice_servers_by_default(server: RunningServer) -> None:
    status, body = await server.api("dora", "GET", "/api/ice-servers")
    assert (status, body["ice_servers"]) == (200, [])


ANSWER = (
    "v=0\r\n"
    "m=video 40000 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    "a=candidate:def 1 udp 2130706431 127.0.0.1 40001 typ host\r\n"
    "a=candidate:ghi 1 udp 2130706431 fd00::5 40002 typ host\r\n"
    "a=end-of-candidates\r\n"
)


def test_announce_adds_public_candidates_on_the_same_port() -> None:
    out = announce_candidates(ANSWER, ("203.0.113.7", "2001:db8::7"))
    added = [line for line in out.splitlines() if line not in ANSWER.splitlines()]
    assert added == [
        "a=candidate:abca 1 udp 1694498815 203.0.113.7 40000 typ srflx raddr 10.0.0.5 rport 40000",
        "a=candidate:ghia 1 udp 1694498815 2001:db8::7 40002 typ srflx raddr fd00::5 rport 40002",
    ]
    assert announce_candidates(ANSWER, ()) == ANSWER


def test_announce_addresses_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRECTLIVE_ANNOUNCE_IP", "203.0.113.7, 2001:db8::7")
    assert announce_addresses_from_env() == ("203.0.113.7", "2001:db8::7")
    monkeypatch.setenv("DIRECTLIVE_ANNOUNCE_IP", "")
    assert announce_addresses_from_env() == ()


def test_announce_addresses_are_checked(tmp_path: Path) -> None:
    assert parse_announce_addresses([" 203.0.113.7", "203.0.113.7"]) == ("203.0.113.7",)
    with pytest.raises(BadRequest, match="not an IP address"):
        parse_announce_addresses(["example.com"])
    done = directlive("serve", "--data-dir", str(tmp_path), "--announce-ip", "nope")
    assert done.returncode == 2
    assert "not an IP address" in done.stderr
    done = directlive("serve", "--data-dir", str(tmp_path), "--turn", "turn:t.test:3478")
    assert done.returncode == 2
    assert "--turn-secret" in done.stderr

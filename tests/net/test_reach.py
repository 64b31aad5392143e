"""Reaching the server across NATs and firewalls, in the namespace internet of
``tests/net/netlab.py``: real ``directlive serve``, real coturn, aiortc clients."""

from __future__ import annotations

import time
from typing import Any

from tests.net.conftest import TURN_PORT, TURN_SECRET, CloudServer, Lab, token
from tests.net.netlab import PUBLIC, SERVER_PRIVATE


def assert_watched(result: dict[str, Any], frames: int = 30) -> None:
    print({k: v for k, v in result.items() if k != "answer_candidates"})
    assert result.get("connected"), result
    assert result["frames"] >= frames, result
    assert result["increasing"], result


def test_cloud_nat_needs_announce_ip(cloud: CloudServer) -> None:
    """Server behind a 1:1 NAT, publisher and viewer behind a home NAT: the viewer decodes
    with ``--announce-ip``; without it, it cannot connect, as the server offers only its
    private address and the home NAT drops the server's own checks."""
    result = cloud.lab.client(
        "hlan", "watch", "--base", cloud.base, "--token", token("bob"), f"--live-id={cloud.live_id}"
    )
    assert_watched(result)
    assert any(f" {PUBLIC} " in line for line in result["answer_candidates"]), result

    lab = cloud.lab
    bare = lab.serve(8081)
    try:
        base = f"http://{PUBLIC}:8081"
        live_id = lab.publish("dc", "http://127.0.0.1:8081", "dchost")
        refused = lab.client(
            "hlan",
            *("watch", "--base", base, "--token", token("bob")),
            *(f"--live-id={live_id}", "--timeout", "12", "--frames", "1"),
        )
        assert not refused["connected"], refused
        assert refused["frames"] == 0, refused
        addresses = {line.split()[4] for line in refused["answer_candidates"]}
        assert PUBLIC not in addresses
        assert SERVER_PRIVATE in addresses
    finally:
        lab.stop(bare)


def test_public_viewer_needs_no_announcement(cloud: CloudServer) -> None:
    """A client on a public address connects even to the unannounced server: the server's
    checks reach it through the cloud NAT and it learns the public address peer-reflexive.
    (So the home NAT, not the cloud NAT alone, is what makes --announce-ip necessary.)"""
    result = cloud.lab.client(
        "home",
        "watch",
        "--base",
        cloud.base,
        "--token",
        token("carol"),
        f"--live-id={cloud.live_id}",
    )
    assert_watched(result)


def test_home_nat_viewer_trickles_an_offer_without_candidates(cloud: CloudServer) -> None:
    """Behind MASQUERADE, an offer with no candidate (as OBS sends) and a PATCH after it."""
    result = cloud.lab.client(
        "hlan",
        *("watch", "--base", cloud.base, "--token", token("erin")),
        *(f"--live-id={cloud.live_id}", "--trickle"),
    )
    assert result["patched"] == 204, result
    assert_watched(result)


def test_udp_blocked_viewer_watches_through_coturn_over_tcp(cloud: CloudServer) -> None:
    """Outgoing UDP all dropped: only the TURN/TCP server from the WHEP Link headers works."""
    direct = cloud.lab.client(
        "blocked",
        *("watch", "--base", cloud.base, "--token", token("dave")),
        *(f"--live-id={cloud.live_id}", "--timeout", "12", "--frames", "1"),
    )
    assert not direct["connected"], direct
    result = cloud.lab.client(
        "blocked",
        *("watch", "--base", cloud.base, "--token", token("dave")),
        *(f"--live-id={cloud.live_id}", "--link-ice", "--prefer-tcp", "--relay"),
    )
    assert result["ice_servers"][0] == f"turn:{PUBLIC}:{TURN_PORT}?transport=tcp", result
    assert result["local_candidate_types"] == ["relay"], result
    assert_watched(result)


def test_coturn_accepts_minted_credentials_until_they_expire(lab: Lab, cloud: CloudServer) -> None:
    ttl = 12
    server = lab.serve(
        8082,
        *("--turn", f"turn:{PUBLIC}:{TURN_PORT}?transport=tcp"),
        *("--turn-secret", TURN_SECRET, "--turn-ttl", str(ttl)),
    )
    minted = lab.client(
        "home", "ice-servers", "--base", f"http://{PUBLIC}:8082", "--token", token("fay")
    )
    lab.stop(server)
    assert minted["status"] == 200, minted
    turn = minted["ice_servers"][0]
    expiry = int(turn["username"].split(":")[0])

    def allocate(credential: str) -> dict[str, Any]:
        return lab.client(
            "home",
            *("allocate", "--server", f"{PUBLIC}:{TURN_PORT}", "--transport", "tcp"),
            *("--username", turn["username"], "--credential", credential),
        )

    accepted = allocate(turn["credential"])
    assert accepted["allocated"], (accepted, f"{expiry - time.time():.1f} s before expiry")
    forged = allocate("A" + turn["credential"][1:])
    assert not forged["allocated"], forged
    while time.time() <= expiry + 1:
        time.sleep(0.2)
    expired = allocate(turn["credential"])
    assert not expired["allocated"], expired
    assert "401" in expired["error"], expired

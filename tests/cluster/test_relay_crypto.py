"""What authenticates and seals node-to-node traffic: the node key, signed internal calls,
and a relay link's two AES-GCM directions."""

from __future__ import annotations

import time

import pytest

from directlive.node_keys import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
    node_key,
    sign_request,
    verify_request,
)
from streamer.relay.cipher import LinkRefused, link_ciphers, new_nonce


def test_every_node_derives_the_same_key_from_the_same_secret() -> None:
    assert node_key("s3cret") == node_key("s3cret")
    assert node_key("s3cret") != node_key("other")
    assert len(node_key("s3cret")) == 32


def test_a_signed_call_verifies_only_as_sent_by_a_holder_of_the_key() -> None:
    key = node_key("s3cret")
    body = b'{"user": "dave"}'
    headers = sign_request(key, "node-b", "POST", "/internal/guest/L1", body)
    call = verify_request(key, headers, "POST", "/internal/guest/L1", body)
    assert call is not None
    assert call.node == "node-b"
    assert len(call.nonce) == 32
    # The signed time is rounded to the millisecond, so it can be up to 0.5 ms ahead.
    assert 30 < call.keep_nonce <= 35.001
    assert verify_request(node_key("other"), headers, "POST", "/internal/guest/L1", body) is None
    assert verify_request(key, headers, "POST", "/internal/guest/L2", body) is None
    assert verify_request(key, headers, "DELETE", "/internal/guest/L1", body) is None
    assert verify_request(key, headers, "POST", "/internal/guest/L1", b"{}") is None
    stale = {**headers, TIME_HEADER: f"{time.time() - 120:.3f}"}
    assert verify_request(key, stale, "POST", "/internal/guest/L1", body) is None
    forged = {**headers, SIGNATURE_HEADER: "0" * 64}
    assert verify_request(key, forged, "POST", "/internal/guest/L1", body) is None
    other_nonce = {**headers, NONCE_HEADER: "1" * 32}
    assert verify_request(key, other_nonce, "POST", "/internal/guest/L1", body) is None


def test_link_messages_open_once_in_order_and_only_with_the_links_keys() -> None:
    key = node_key("s3cret")
    edge_nonce, origin_nonce = new_nonce(), new_nonce()
    edge, origin = link_ciphers(key, "L1", edge_nonce, origin_nonce)
    first, second = origin.seal(b"frame 1"), origin.seal(b"frame 2")
    assert b"frame" not in first
    assert edge.open(first) == b"frame 1"
    with pytest.raises(LinkRefused):
        edge.open(first)  # replayed
    assert edge.open(second) == b"frame 2"
    assert origin.open(edge.seal(b"keyframe please")) == b"keyframe please"

    outsider, _ = link_ciphers(node_key("other"), "L1", edge_nonce, origin_nonce)
    with pytest.raises(LinkRefused):
        outsider.open(origin.seal(b"frame 3"))
    other_live, _ = link_ciphers(key, "L2", edge_nonce, origin_nonce)
    with pytest.raises(LinkRefused):
        other_live.open(origin.seal(b"frame 4"))
    fresh_edge, fresh_origin = link_ciphers(key, "L1", edge_nonce, origin_nonce)
    tampered = bytearray(fresh_origin.seal(b"frame 5"))
    tampered[0] ^= 1
    with pytest.raises(LinkRefused):
        fresh_edge.open(bytes(tampered))
    with pytest.raises(LinkRefused):
        fresh_origin.open(fresh_origin.seal(b"its own direction"))  # reflected back

"""The relay link's own messages: what the origin sends is what the edge parses, and a map
that is none of them is refused, never half taken."""

from __future__ import annotations

import pytest

from streamer.relay.messages import (
    Hello,
    Layers,
    LiveOver,
    Ready,
    RelayMessage,
    relay_from_wire,
    relay_to_wire,
)
from streamer.workers.messages import BadMessage, KeyframeWanted


@pytest.mark.parametrize(
    "message", [Hello("b", "live1"), Ready("alice"), LiveOver(), Layers((3, 1, 2))]
)
def test_relay_messages_come_back_as_sent(message: RelayMessage) -> None:
    assert relay_from_wire(relay_to_wire(message)) == message


def test_worker_feed_messages_pass_through() -> None:
    assert relay_from_wire({"op": "keyframe", "key": 4}) == KeyframeWanted(key=4)


@pytest.mark.parametrize(
    "body",
    [
        {"op": "relay.layers"},
        {"op": "relay.layers", "keys": "1,2"},
        {"op": "relay.layers", "keys": [1]},
        {"op": "relay.layers", "keys": [1, 1]},
        {"op": "relay.layers", "keys": [1, "2"]},
        {"op": "relay.layers", "keys": [1, True]},
        {"op": "relay.layers", "keys": [1, 2.0]},
        {"op": "relay.hello", "node": "b"},
        {"op": "relay.ready", "host": 3},
        {"op": "relay.nothing"},
        ["relay.layers", [1, 2]],
    ],
)
def test_malformed_relay_messages_are_refused(body: object) -> None:
    with pytest.raises(BadMessage):
        relay_from_wire(body)

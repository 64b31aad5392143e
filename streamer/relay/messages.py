"""What travels on a relay link besides the worker feed's own messages.

The origin feeds an edge exactly as the main process feeds a media worker
(``streamer.workers.messages``: ``SourceOpen`` with the GOP, frames as arrays,
``SourceClose``; ``KeyframeWanted`` back), every layer of a layered picture a source of its
own, plus the few messages below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from streamer.workers.messages import BadMessage, Message, from_wire


@dataclass(frozen=True)
class Hello:
    """Edge to origin, the first sealed message: which node asks for which live."""

    op: ClassVar[str] = "relay.hello"
    node: str
    live_id: str


@dataclass(frozen=True)
class Ready:
    """Origin to edge: every source of the live was opened; ``host`` is the live's host."""

    op: ClassVar[str] = "relay.ready"
    host: str


@dataclass(frozen=True)
class LiveOver:
    """Origin to edge: the live ended (or left the origin); nothing more comes."""

    op: ClassVar[str] = "relay.end"


@dataclass(frozen=True)
class Layers:
    """Origin to edge, before the ``SourceOpen`` of any of them: the sources ``keys`` are
    the layers of one picture, in the publisher's m-line order (the first stands for the
    picture, top until keyframes rank them: ``LayerSet``)."""

    op: ClassVar[str] = "relay.layers"
    keys: tuple[int, ...]


RelayMessage = Hello | Ready | LiveOver | Layers


def relay_to_wire(message: RelayMessage) -> dict[str, Any]:
    if isinstance(message, Hello):
        return {"op": message.op, "node": message.node, "live_id": message.live_id}
    if isinstance(message, Ready):
        return {"op": message.op, "host": message.host}
    if isinstance(message, Layers):
        return {"op": message.op, "keys": list(message.keys)}
    return {"op": message.op}


def relay_from_wire(body: object) -> RelayMessage | Message:
    """A relay message, or a worker feed message; ``BadMessage`` when neither."""
    if not isinstance(body, dict):
        raise BadMessage("a relay message is a map")
    op = body.get("op")
    if op == Hello.op:
        node, live_id = body.get("node"), body.get("live_id")
        if not isinstance(node, str) or not isinstance(live_id, str):
            raise BadMessage("relay.hello: node and live_id are strings")
        return Hello(node, live_id)
    if op == Ready.op:
        host = body.get("host")
        if not isinstance(host, str):
            raise BadMessage("relay.ready: host is a string")
        return Ready(host)
    if op == LiveOver.op:
        return LiveOver()
    if op == Layers.op:
        keys = body.get("keys")
        if (
            not isinstance(keys, list)
            or len(keys) < 2
            or not all(type(key) is int for key in keys)
            or len(set(keys)) != len(keys)
        ):
            raise BadMessage("relay.layers: keys are two or more distinct integers")
        return Layers(tuple(keys))
    return from_wire(body)

"""Client-to-server socket messages, parsed in one place into frozen dataclasses."""

from __future__ import annotations

import json
from dataclasses import dataclass

from directlive.errors import BadRequest, PayloadTooLarge
from signaling.json_input import MAX_DEPTH, is_unicode, nesting_depth, parse_json
from signaling.room_messages import RoomMessage, parse_room_message

MAX_LAYER = 9
"""The highest ``max_layer`` a client may ask for (a cap above the top layer means the top)."""


@dataclass(frozen=True)
class Auth:
    token: str


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class LiveStart:
    sdp: str
    record: bool = False
    """Record this live (``recorder``); the server may record every live anyway."""


@dataclass(frozen=True)
class LiveEnd:
    live_id: str


@dataclass(frozen=True)
class Watch:
    live_id: str
    sdp: str
    via_thread: str | None
    participant: str | None = None
    """Watch only this participant; ``None``: every participant."""
    max_layer: int | None = None
    """The highest layer of a layered picture to send (0 = lowest); ``None``: any."""


@dataclass(frozen=True)
class LayerCap:
    """Change a watching session's ``max_layer`` (a tile shrank, grew or was hidden)."""

    live_id: str
    session_id: str
    max_layer: int | None
    participant: str | None = None
    """Cap only this participant's pictures (a small tile); ``None``: the session's cap."""


@dataclass(frozen=True)
class Leave:
    live_id: str
    session_id: str


@dataclass(frozen=True)
class Candidate:
    live_id: str
    session_id: str | None
    """``None`` for the sender's publishing connection, else its viewer session."""
    candidate: str
    sdp_mid: str | None


ClientMessage = (
    Auth | Ping | LiveStart | LiveEnd | Watch | LayerCap | Leave | Candidate | RoomMessage
)


@dataclass(frozen=True)
class Envelope:
    message: ClientMessage
    request_id: str | int | None
    """The client's ``id``, echoed in the reply or error."""


def _str(body: dict[str, object], key: str, *, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value):
        raise BadRequest(f"field {key!r} must be a non-empty string", code="bad_message")
    return value


def parse_max_layer(value: object) -> int | None:
    """A ``max_layer`` preference: absent/null, or an integer 0..MAX_LAYER."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 2:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_LAYER:
        raise BadRequest(
            f"max_layer must be an integer from 0 to {MAX_LAYER}", code="bad_max_layer"
        )
    return value


def _req(body: dict[str, object], key: str) -> str:
    value = _str(body, key)
    assert value is not None
    return value


def _parse_body(kind: str, body: dict[str, object]) -> ClientMessage:
    if kind == "auth":
        return Auth(_req(body, "token"))
    if kind == "ping":
        return Ping()
    if kind == "live.start":
        record = body.get("record", False)
        if not isinstance(record, bool):
            raise BadRequest("field 'record' must be a boolean", code="bad_message")
        return LiveStart(_req(body, "sdp"), record)
    if kind == "live.end":
        return LiveEnd(_req(body, "live_id"))
    if kind == "watch":
        return Watch(
            _req(body, "live_id"),
            _req(body, "sdp"),
            _str(body, "via_thread", optional=True),
            _str(body, "participant", optional=True),
            parse_max_layer(body.get("max_layer")),
        )
    if kind == "layer":
        return LayerCap(
            _req(body, "live_id"),
            _req(body, "session_id"),
            parse_max_layer(body.get("max_layer")),
            _str(body, "participant", optional=True),
        )
    if kind == "leave":
        return Leave(_req(body, "live_id"), _req(body, "session_id"))
    if kind == "ice":
        candidate = body.get("candidate", "")
        if not isinstance(candidate, str):
            raise BadRequest("field 'candidate' must be a string", code="bad_message")
        return Candidate(
            _req(body, "live_id"),
            _str(body, "session_id", optional=True),
            candidate,
            _str(body, "sdp_mid", optional=True),
        )
    room_message = parse_room_message(kind, body)
    if room_message is not None:
        return room_message
    raise BadRequest(f"unknown message type {kind!r}", code="unknown_type")


def parse_message(raw: str, limit: int) -> Envelope:
    if len(raw) > limit:
        raise PayloadTooLarge(f"message over the {limit} byte limit")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("a message is a JSON object", code="bad_message")
    request_id = body.get("id")
    if not (request_id is None or isinstance(request_id, str | int)):
        raise BadRequest("field 'id' must be a string or integer", code="bad_message")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise BadRequest("field 'type' must be a string", code="bad_message")
    return Envelope(_parse_body(kind, body), request_id)


def request_id_of(raw: str) -> str | int | None:
    """Best-effort ``id`` of a message that failed to parse, to address the error."""
    if raw.count("[") + raw.count("{") > MAX_DEPTH and nesting_depth(raw) > MAX_DEPTH:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    value = body.get("id") if isinstance(body, dict) else None
    if isinstance(value, str):
        return value if is_unicode(value) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None

"""Socket messages of a live room (co-broadcast, comments, reactions, moderation)."""

from __future__ import annotations

from dataclasses import dataclass

from directlive.errors import BadRequest


@dataclass(frozen=True)
class RoomJoin:
    live_id: str
    session_id: str | None = None
    """A viewer session of the user's that this socket takes over (after a reconnection)."""


@dataclass(frozen=True)
class RoomLeave:
    live_id: str


@dataclass(frozen=True)
class JoinRequest:
    live_id: str


@dataclass(frozen=True)
class HostDecision:
    """``join.accept``, ``join.decline``, ``join.invite``, ``guest.remove``, ``viewer.remove``."""

    action: str
    live_id: str
    user: str


@dataclass(frozen=True)
class GuestPublish:
    live_id: str
    sdp: str


@dataclass(frozen=True)
class GuestLeave:
    live_id: str


@dataclass(frozen=True)
class RoomSettingsChange:
    live_id: str
    comments: bool | None
    joins: bool | None


@dataclass(frozen=True)
class PostComment:
    live_id: str
    text: str


@dataclass(frozen=True)
class React:
    live_id: str
    kind: str


@dataclass(frozen=True)
class RemoveComment:
    live_id: str
    comment_id: str


@dataclass(frozen=True)
class RecentComments:
    live_id: str
    limit: int


@dataclass(frozen=True)
class SessionAnswer:
    live_id: str
    session_id: str
    sdp: str


RoomMessage = (
    RoomJoin
    | RoomLeave
    | JoinRequest
    | HostDecision
    | GuestPublish
    | GuestLeave
    | RoomSettingsChange
    | PostComment
    | React
    | RemoveComment
    | RecentComments
    | SessionAnswer
)

HOST_DECISIONS = ("join.accept", "join.decline", "join.invite", "guest.remove", "viewer.remove")


def _text(body: dict[str, object], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"field {key!r} must be a non-empty string", code="bad_message")
    return value


def _flag(body: dict[str, object], key: str) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise BadRequest(f"field {key!r} must be true or false", code="bad_message")


def _limit(body: dict[str, object]) -> int:
    value = body.get("limit", 50)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 500:
        raise BadRequest("field 'limit' must be an integer 1..500", code="bad_message")
    return value


def parse_room_message(kind: str, body: dict[str, object]) -> RoomMessage | None:
    """The room message of type ``kind``, or ``None`` if ``kind`` is not a room message."""
    if kind in HOST_DECISIONS:
        return HostDecision(kind, _text(body, "live_id"), _text(body, "user"))
    if kind == "room.join":
        session_id = body.get("session_id")
        if session_id is not None and (not isinstance(session_id, str) or not session_id):
            raise BadRequest("field 'session_id' must be a non-empty string", code="bad_message")
        return RoomJoin(_text(body, "live_id"), session_id)
    simple: dict[str, type[RoomLeave | JoinRequest | GuestLeave]] = {
        "room.leave": RoomLeave,
        "join.request": JoinRequest,
        "guest.leave": GuestLeave,
    }
    if kind in simple:
        return simple[kind](_text(body, "live_id"))
    if kind == "live.publish":
        return GuestPublish(_text(body, "live_id"), _text(body, "sdp"))
    if kind == "live.settings":
        return RoomSettingsChange(
            _text(body, "live_id"), _flag(body, "comments"), _flag(body, "joins")
        )
    if kind == "comment":
        text = body.get("text")
        if not isinstance(text, str):
            raise BadRequest("field 'text' must be a string", code="bad_message")
        return PostComment(_text(body, "live_id"), text)
    if kind == "reaction":
        return React(_text(body, "live_id"), _text(body, "kind"))
    if kind == "comment.remove":
        return RemoveComment(_text(body, "live_id"), _text(body, "comment_id"))
    if kind == "comments.recent":
        return RecentComments(_text(body, "live_id"), _limit(body))
    if kind == "session.answer":
        return SessionAnswer(_text(body, "live_id"), _text(body, "session_id"), _text(body, "sdp"))
    return None

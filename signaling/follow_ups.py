"""Follow-ups of a WHIP/WHEP session, done by the node holding it: trickled candidates
(``PATCH``, RFC 9725 section 4.3) and a viewer leaving (``DELETE /whep/...``).

A follow-up arrives at any node (``signaling.follow_up_routes``); the request is captured once
as a ``FollowUp`` (the user the token named, the headers that matter, the body up to its limit)
so the holding node answers it the same whether it came straight or was forwarded: ``404``
for an unknown session, ``403`` for someone else's, then ``428`` without ``If-Match``,
``501`` for an ICE restart (``If-Match: *``), ``412`` when it is not the session's ETag, ``415``
for another content type, ``413`` past the size limit, ``400`` for a malformed fragment.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from directlive.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    Unimplemented,
    UnsupportedMediaType,
)
from signaling.appkeys import LIVES, SESSION_TAGS, USER
from signaling.auth import is_user_id
from signaling.trickle import CONTENT_TYPE, MAX_FRAGMENT_BYTES, parse_fragment

log = logging.getLogger("directlive.signaling")


@dataclass(frozen=True)
class FollowUp:
    user: str
    """Whom the caller's token named (checked by the node the caller reached)."""
    path: str
    """The session's public URL path (its ETag is keyed on it)."""
    if_match: str | None
    content_type: str
    body: bytes
    """At most ``MAX_FRAGMENT_BYTES``; empty when ``too_large``."""
    too_large: bool = False

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "user": self.user,
                "if_match": self.if_match,
                "content_type": self.content_type,
                "body": base64.b64encode(self.body).decode(),
                "too_large": self.too_large,
            }
        ).encode()


async def read_follow_up(request: web.Request) -> FollowUp:
    """The follow-up a caller sent this node (the body only for a ``PATCH``)."""
    body = bytearray()
    too_large = False
    if request.method == "PATCH":
        declared = request.content_length
        too_large = declared is not None and declared > MAX_FRAGMENT_BYTES
        while not too_large and (chunk := await request.content.read(64 * 1024)):
            body.extend(chunk)
            too_large = len(body) > MAX_FRAGMENT_BYTES
    return FollowUp(
        user=request[USER],
        path=request.path,
        if_match=request.headers.get("If-Match"),
        content_type=request.content_type,
        body=b"" if too_large else bytes(body),
        too_large=too_large,
    )


def parse_follow_up(value: Mapping[str, object], path: str) -> FollowUp:
    """A follow-up another node forwarded (``FollowUp.to_json``); ``bad_body`` otherwise."""
    user, if_match = value.get("user"), value.get("if_match")
    content_type, body = value.get("content_type"), value.get("body")
    if not (
        is_user_id(user)
        and isinstance(if_match, str | None)
        and isinstance(content_type, str)
        and isinstance(body, str)
    ):
        raise BadRequest("not a forwarded follow-up", code="bad_body")
    try:
        raw = base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise BadRequest("the body is not base64", code="bad_body") from exc
    too_large = value.get("too_large") is True
    return FollowUp(user, path, if_match, content_type, raw, too_large)


def _check_if_match(app: web.Application, follow_up: FollowUp) -> None:
    header = follow_up.if_match
    if header is None:
        raise PreconditionRequired(
            "PATCH needs If-Match with the session's ETag", code="if_match_required"
        )
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    if "*" in tags or '"*"' in tags:
        raise Unimplemented("ICE restart is not supported", code="ice_restart_unsupported")
    if app[SESSION_TAGS].etag(follow_up.path) not in tags:
        raise PreconditionFailed("If-Match is not this session's ETag", code="etag_mismatch")


async def _trickle(
    app: web.Application, info: Mapping[str, str], follow_up: FollowUp, session_id: str | None
) -> web.Response:
    _check_if_match(app, follow_up)
    if follow_up.content_type != CONTENT_TYPE:
        raise UnsupportedMediaType(
            f"expected Content-Type: {CONTENT_TYPE}, got {follow_up.content_type or 'none'}"
        )
    if follow_up.too_large:
        raise PayloadTooLarge(f"body is over the {MAX_FRAGMENT_BYTES} byte limit")
    try:
        text = follow_up.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("fragment is not UTF-8", code="bad_sdpfrag") from exc
    fragment = parse_fragment(text)
    for candidate in fragment.candidates:
        await app[LIVES].add_candidate(
            follow_up.user, info["live_id"], session_id, candidate.line, candidate.mid
        )
    log.info(
        "trickle %s user=%s candidates=%d end=%s",
        follow_up.path,
        follow_up.user,
        len(fragment.candidates),
        fragment.end_of_candidates,
    )
    return web.Response(status=204)


async def patch_whip_here(
    app: web.Application, info: Mapping[str, str], follow_up: FollowUp
) -> web.Response:
    """The host's publishing session."""
    live = app[LIVES].streamer.get(info["live_id"])
    if live.host != follow_up.user:
        raise Forbidden("this publishing session is someone else's", code="not_your_session")
    if follow_up.user not in live.publishers:
        raise NotFound("no publishing session here", code="session_not_found")
    return await _trickle(app, info, follow_up, None)


async def patch_whip_guest_here(
    app: web.Application, info: Mapping[str, str], follow_up: FollowUp
) -> web.Response:
    """A guest's publishing session."""
    live = app[LIVES].streamer.get(info["live_id"])
    guest = info["user"]
    if guest != follow_up.user:
        raise Forbidden("this publishing session is someone else's", code="not_your_session")
    if guest == live.host or guest not in live.publishers:
        raise NotFound("no guest publishing session here", code="session_not_found")
    return await _trickle(app, info, follow_up, None)


async def patch_whep_here(
    app: web.Application, info: Mapping[str, str], follow_up: FollowUp
) -> web.Response:
    session = app[LIVES].streamer.session(info["live_id"], info["session_id"])
    if session.user != follow_up.user:
        raise Forbidden("this viewer session is someone else's", code="not_your_session")
    return await _trickle(app, info, follow_up, info["session_id"])


async def delete_whep_here(
    app: web.Application, info: Mapping[str, str], follow_up: FollowUp
) -> web.Response:
    await app[LIVES].leave(follow_up.user, info["live_id"], info["session_id"])
    return web.Response(status=200)

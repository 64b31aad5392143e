"""Trickle ICE and ICE servers over HTTP (RFC 9725 sections 4.3 and 4.6).

``PATCH`` on a WHIP/WHEP session URL adds the client's candidates: ``204``; ``428`` without
``If-Match``, ``412`` when it is not the session's ETag, ``501`` for an ICE restart
(``If-Match: *``), ``415`` for another content type, ``400`` for a malformed fragment, ``403``
for someone else's session, ``404`` for an unknown one. ``OPTIONS /whip`` and
``OPTIONS /whep/{live_id}`` with a token answer with the ICE servers as ``Link`` headers;
``GET /api/ice-servers`` gives the same list as JSON for the web app.
"""

from __future__ import annotations

import logging

from aiohttp import web

from directlive.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Unimplemented,
)
from signaling.appkeys import CONFIG, LIVES, SESSION_TAGS, USER
from signaling.http_body import read_limited, require_content_type
from signaling.ice_servers import ice_servers_for
from signaling.middleware import ALLOWED_METHODS
from signaling.trickle import CONTENT_TYPE, MAX_FRAGMENT_BYTES, parse_fragment
from signaling.whip_whep import add_ice_server_links

log = logging.getLogger("directlive.signaling")


def _check_if_match(request: web.Request) -> None:
    header = request.headers.get("If-Match")
    if header is None:
        raise PreconditionRequired(
            "PATCH needs If-Match with the session's ETag", code="if_match_required"
        )
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    if "*" in tags or '"*"' in tags:
        raise Unimplemented("ICE restart is not supported", code="ice_restart_unsupported")
    if request.app[SESSION_TAGS].etag(request.path) not in tags:
        raise PreconditionFailed("If-Match is not this session's ETag", code="etag_mismatch")


async def _trickle(request: web.Request, session_id: str | None) -> web.Response:
    _check_if_match(request)
    require_content_type(request, CONTENT_TYPE)
    body = await read_limited(request, MAX_FRAGMENT_BYTES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("fragment is not UTF-8", code="bad_sdpfrag") from exc
    fragment = parse_fragment(text)
    user = request[USER]
    live_id = request.match_info["live_id"]
    for candidate in fragment.candidates:
        await request.app[LIVES].add_candidate(
            user, live_id, session_id, candidate.line, candidate.mid
        )
    log.info(
        "trickle %s user=%s candidates=%d end=%s",
        request.path,
        user,
        len(fragment.candidates),
        fragment.end_of_candidates,
    )
    return web.Response(status=204)


async def patch_whip(request: web.Request) -> web.Response:
    """The host's publishing session."""
    live = request.app[LIVES].streamer.get(request.match_info["live_id"])
    if live.host != request[USER]:
        raise Forbidden("this publishing session is someone else's", code="not_your_session")
    if request[USER] not in live.publishers:
        raise NotFound("no publishing session here", code="session_not_found")
    return await _trickle(request, None)


async def patch_whip_guest(request: web.Request) -> web.Response:
    """A guest's publishing session."""
    live = request.app[LIVES].streamer.get(request.match_info["live_id"])
    guest = request.match_info["user"]
    if guest != request[USER]:
        raise Forbidden("this publishing session is someone else's", code="not_your_session")
    if guest == live.host or guest not in live.publishers:
        raise NotFound("no guest publishing session here", code="session_not_found")
    return await _trickle(request, None)


async def patch_whep(request: web.Request) -> web.Response:
    info = request.match_info
    session = request.app[LIVES].streamer.session(info["live_id"], info["session_id"])
    if session.user != request[USER]:
        raise Forbidden("this viewer session is someone else's", code="not_your_session")
    return await _trickle(request, info["session_id"])


async def options_ice_servers(request: web.Request) -> web.Response:
    """A client asks, before its offer, which STUN/TURN servers to gather with."""
    response = web.Response(status=204)
    response.headers["Allow"] = ALLOWED_METHODS
    response.headers["Accept-Post"] = "application/sdp"
    add_ice_server_links(request, response)
    return response


async def get_ice_servers(request: web.Request) -> web.Response:
    """``RTCConfiguration.iceServers`` for the web app, TURN credentials minted for the user."""
    config = request.app[CONFIG].ice_servers
    servers = ice_servers_for(request[USER], config)
    return web.json_response(
        {"ice_servers": [s.as_json() for s in servers], "ttl": config.turn_ttl}
    )


def add_trickle_routes(app: web.Application) -> None:
    app.router.add_patch("/whip/{live_id}", patch_whip)
    app.router.add_patch("/whip/{live_id}/{user}", patch_whip_guest)
    app.router.add_patch("/whep/{live_id}/{session_id}", patch_whep)
    app.router.add_route("OPTIONS", "/whip", options_ice_servers)
    app.router.add_route("OPTIONS", "/whep/{live_id}", options_ice_servers)
    app.router.add_get("/api/ice-servers", get_ice_servers)

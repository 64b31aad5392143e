"""Session follow-ups accepted by any node: ``PATCH``/``DELETE /whep/{live_id}/{session_id}``
and ``PATCH /whip/{live_id}``, ``PATCH /whip/{live_id}/{user}`` (``signaling.follow_ups``).

The node the caller reached checks the token, then finds the node holding the session: a
viewer session's id names it (``signaling.session_ids``), a publishing session is on the
live's origin (the node directory); an id no node minted is answered where it arrived
(404, as any unknown session). Another node's follow-up is forwarded there as a signed
call (same method, ``/internal/follow-up`` + the public path, ``signaling.node_calls``), and
its answer (status and body) goes back unchanged. A holder whose heartbeat stopped took its
sessions with it: ``404 session_not_found``; a holder alive but not answering: ``503
session_node_unreachable``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from directlive.errors import NotFound
from signaling.appkeys import NODE_CALLS, SESSION_IDS, STREAMER
from signaling.follow_ups import (
    FollowUp,
    delete_whep_here,
    parse_follow_up,
    patch_whep_here,
    patch_whip_guest_here,
    patch_whip_here,
    read_follow_up,
)
from signaling.node_auth import signed_body

log = logging.getLogger("directlive.signaling")

FORWARD_PREFIX = "/internal/follow-up"
WHEP_SESSION = "/whep/{live_id}/{session_id}"
WHIP_HOST = "/whip/{live_id}"
WHIP_GUEST = "/whip/{live_id}/{user}"

Here = Callable[[web.Application, Mapping[str, str], FollowUp], Awaitable[web.Response]]
Holder = Callable[[web.Application, Mapping[str, str]], Awaitable[str | None]]


async def viewer_holder(app: web.Application, info: Mapping[str, str]) -> str | None:
    """The node the session id names; None (answer here, as for any unknown session: 404)
    for an id no node minted."""
    return app[SESSION_IDS].holder(info["session_id"])


async def publisher_holder(app: web.Application, info: Mapping[str, str]) -> str | None:
    """The live's origin; None (answer here) when it is this node or unknown."""
    if app[STREAMER].serves_origin(info["live_id"]):
        return None
    calls = app[NODE_CALLS]
    return await calls.directory.origin(info["live_id"])


async def _route(request: web.Request, holder: Holder, here: Here) -> web.Response:
    app = request.app
    follow_up = await read_follow_up(request)
    node = await holder(app, request.match_info)
    calls = app[NODE_CALLS]
    if node is None or node == calls.node_id:
        return await here(app, request.match_info, follow_up)
    url = await calls.url_of(node)
    if url is None:
        log.info("follow-up %s %s: node=%s is gone", request.method, request.path, node)
        raise NotFound("the session ended with its node", code="session_not_found")
    answer = await calls.call(
        url,
        request.method,
        FORWARD_PREFIX + request.path,
        follow_up.to_json(),
        unreachable_code="session_node_unreachable",
    )
    log.info(
        "follow-up %s %s user=%s forwarded to node=%s: %d",
        request.method,
        request.path,
        follow_up.user,
        node,
        answer.status,
    )
    if not answer.text:
        return web.Response(status=answer.status)
    return web.Response(status=answer.status, text=answer.text, content_type=answer.content_type)


async def _forwarded(request: web.Request, here: Here) -> web.Response:
    """Another node forwarded a follow-up of a session held here: answer it here."""
    value = await signed_body(request)
    follow_up = parse_follow_up(value, request.path.removeprefix(FORWARD_PREFIX))
    return await here(request.app, request.match_info, follow_up)


def _public(holder: Holder, here: Here) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return await _route(request, holder, here)

    return handle


def _internal(here: Here) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return await _forwarded(request, here)

    return handle


def add_follow_up_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, Holder, Here]] = [
        ("PATCH", WHEP_SESSION, viewer_holder, patch_whep_here),
        ("DELETE", WHEP_SESSION, viewer_holder, delete_whep_here),
        ("PATCH", WHIP_HOST, publisher_holder, patch_whip_here),
        ("PATCH", WHIP_GUEST, publisher_holder, patch_whip_guest_here),
    ]
    for method, path, holder, here in routes:
        app.router.add_route(method, path, _public(holder, here))
        app.router.add_route(method, FORWARD_PREFIX + path, _internal(here))

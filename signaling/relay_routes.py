"""Node-to-node routes, authenticated with the node key rather than a user token:

- ``GET /internal/relay/{live_id}`` (WebSocket): an edge node's relay link to this origin
  (``streamer.relay``: sealed with keys derived from the node key, so only a node of the
  deployment gets a frame);
- ``POST`` / ``DELETE /internal/guest/{live_id}``, ``POST .../candidate``: an edge forwards
  a guest's publish, removal or trickled candidate here, signed (``signaling.node_auth``:
  a call is accepted once);
- ``POST /internal/live/{live_id}/end``: the host ended the live through another node.
"""

from __future__ import annotations

import logging

from aiohttp import web

from directlive.errors import BadRequest, NotFound
from fanout.node_directory import NodeDirectory
from signaling.appkeys import FANOUT, LIVES, STREAMER
from signaling.auth import is_user_id
from signaling.node_auth import signed_body
from signaling.origin_calls import END_PATH, GUEST_CANDIDATE_PATH, GUEST_PATH
from streamer import Streamer

log = logging.getLogger("directlive.signaling")

RELAY_PATH = "/internal/relay/{live_id}"
RELAY_NONCE_HEADER = "X-Directlive-Relay-Nonce"
MAX_RELAY_MESSAGE = 64 * 1024 * 1024
"""A source's GOP opens the link in one message (as ``streamer.relay.channel``)."""
RELAY_HEARTBEAT = 5.0
"""Pings toward the edge: one that vanished without closing ends the link."""


async def get_relay(request: web.Request) -> web.StreamResponse:
    live_id = request.match_info["live_id"]
    streamer: Streamer = request.app[STREAMER]
    try:
        nonce = bytes.fromhex(request.headers.get(RELAY_NONCE_HEADER, ""))
    except ValueError:
        nonce = b""
    if not nonce:
        raise BadRequest("a relay link starts with a nonce", code="bad_relay_request")
    if not streamer.serves_origin(live_id):
        raise NotFound("this node is not the live's origin", code="live_not_found")
    directory: NodeDirectory = request.app[FANOUT].directory
    socket = web.WebSocketResponse(max_msg_size=MAX_RELAY_MESSAGE, heartbeat=RELAY_HEARTBEAT)
    await socket.prepare(request)
    edge: str | None = None

    async def opened(node: str) -> None:
        nonlocal edge
        edge = node
        await directory.add_relay(live_id, node)

    try:
        await streamer.serve_relay(live_id, socket, nonce, opened)
    finally:
        # Not when the edge reconnected already: its new link is in the directory too.
        if edge is not None and not streamer.feeds_edge(live_id, edge):
            await directory.remove_relay(live_id, edge)
            log.info("relay link gone live=%s edge=%s", live_id, edge)
    return socket


def _user(body: dict[str, object], field: str) -> str:
    value = body.get(field)
    if not is_user_id(value):
        raise BadRequest(f"{field} is not a user id", code="bad_user")
    return value


async def post_guest(request: web.Request) -> web.Response:
    """An edge forwards a guest's offer: publish here, answer with this node's candidates."""
    body = await signed_body(request)
    sdp = body.get("sdp")
    if not isinstance(sdp, str):
        raise BadRequest("sdp is a string", code="bad_sdp")
    live_id = request.match_info["live_id"]
    user = _user(body, "user")
    lives = request.app[LIVES]
    answer = await lives.cobroadcast.publish_guest(user, live_id, sdp, bool(body.get("whip")))
    return web.Response(text=answer, content_type="application/sdp")


async def delete_guest(request: web.Request) -> web.Response:
    body = await signed_body(request)
    live_id = request.match_info["live_id"]
    await request.app[LIVES].cobroadcast.remove_guest(
        _user(body, "actor"), live_id, _user(body, "user")
    )
    return web.Response(text="")


async def post_guest_candidate(request: web.Request) -> web.Response:
    """Trickle ICE of a guest whose publish an edge forwarded here."""
    body = await signed_body(request)
    candidate, sdp_mid = body.get("candidate"), body.get("sdp_mid")
    if not isinstance(candidate, str) or not isinstance(sdp_mid, str | None):
        raise BadRequest("candidate is a string, sdp_mid a string or null", code="bad_candidate")
    await request.app[LIVES].add_candidate(
        _user(body, "user"), request.match_info["live_id"], None, candidate, sdp_mid
    )
    return web.Response(text="")


async def post_end(request: web.Request) -> web.Response:
    """The host ended the live through another node."""
    body = await signed_body(request)
    await request.app[LIVES].end_live(_user(body, "user"), request.match_info["live_id"])
    return web.Response(text="")


def add_relay_routes(app: web.Application) -> None:
    app.router.add_get(RELAY_PATH, get_relay)
    app.router.add_post(GUEST_PATH, post_guest)
    app.router.add_delete(GUEST_PATH, delete_guest)
    app.router.add_post(GUEST_CANDIDATE_PATH, post_guest_candidate)
    app.router.add_post(END_PATH, post_end)

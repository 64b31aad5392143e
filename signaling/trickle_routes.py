"""Trickle ICE and ICE servers over HTTP (RFC 9725 sections 4.3 and 4.6).

``PATCH`` on a WHIP/WHEP session URL adds the client's candidates (``signaling.follow_ups``,
on whichever node holds the session). ``OPTIONS /whip`` and
``OPTIONS /whep/{live_id}`` with a token answer with the ICE servers as ``Link`` headers;
``GET /api/ice-servers`` gives the same list as JSON for the web app.
"""

from __future__ import annotations

from aiohttp import web

from signaling.appkeys import CONFIG, USER
from signaling.ice_servers import ice_servers_for
from signaling.middleware import ALLOWED_METHODS
from signaling.whip_whep import add_ice_server_links


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
    app.router.add_route("OPTIONS", "/whip", options_ice_servers)
    app.router.add_route("OPTIONS", "/whep/{live_id}", options_ice_servers)
    app.router.add_get("/api/ice-servers", get_ice_servers)

"""WHIP ingest (RFC 9725) and WHEP playback: one HTTP exchange of SDP each way, plus
follow-ups on the session URL (trickled candidates, a viewer leaving) that any node accepts
(``signaling.follow_up_routes``)."""

from __future__ import annotations

from aiohttp import web

from signaling.appkeys import CONFIG, LIVES, SESSION_TAGS, USER
from signaling.http_body import read_sdp
from signaling.ice_servers import ice_servers_for
from signaling.messages import parse_max_layer
from signaling.trickle import CONTENT_TYPE as TRICKLE_TYPE


def add_ice_server_links(request: web.Request, response: web.StreamResponse) -> None:
    """RFC 9725 section 4.6: one ``Link`` header per STUN/TURN server for this user."""
    for server in ice_servers_for(request[USER], request.app[CONFIG].ice_servers):
        response.headers.add("Link", server.as_link())


def _sdp_created(request: web.Request, answer: str, location: str) -> web.Response:
    response = web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={
            "Location": location,
            "ETag": request.app[SESSION_TAGS].etag(location),
            "Accept-Patch": TRICKLE_TYPE,
        },
    )
    add_ice_server_links(request, response)
    return response


async def post_whip(request: web.Request) -> web.Response:
    offer = await read_sdp(request, request.app[CONFIG].max_sdp_bytes)
    record = request.query.get("record", "") in ("1", "true")
    live_id, answer = await request.app[LIVES].go_live(
        request[USER], offer, whip=True, record=record
    )
    return _sdp_created(request, answer, f"/whip/{live_id}")


async def delete_whip(request: web.Request) -> web.Response:
    await request.app[LIVES].end_live(request[USER], request.match_info["live_id"])
    return web.Response(status=200)


async def post_whip_guest(request: web.Request) -> web.Response:
    """An accepted guest publishes into a running live."""
    live_id = request.match_info["live_id"]
    offer = await read_sdp(request, request.app[CONFIG].max_sdp_bytes)
    user = request[USER]
    answer = await request.app[LIVES].cobroadcast.publish_guest(user, live_id, offer, whip=True)
    return _sdp_created(request, answer, f"/whip/{live_id}/{user}")


async def delete_whip_guest(request: web.Request) -> web.Response:
    """The guest leaves, or the host removes the guest; the live goes on."""
    info = request.match_info
    await request.app[LIVES].cobroadcast.remove_guest(request[USER], info["live_id"], info["user"])
    return web.Response(status=200)


async def post_whep(request: web.Request) -> web.Response:
    live_id = request.match_info["live_id"]
    offer = await read_sdp(request, request.app[CONFIG].max_sdp_bytes)
    via_thread = request.query.get("via_thread") or None
    participant = request.query.get("participant") or None
    max_layer = parse_max_layer(request.query.get("max_layer") or None)
    session_id, answer = await request.app[LIVES].watch(
        request[USER], live_id, offer, via_thread, participant=participant, max_layer=max_layer
    )
    return _sdp_created(request, answer, f"/whep/{live_id}/{session_id}")


def add_media_routes(app: web.Application) -> None:
    app.router.add_post("/whip", post_whip)
    app.router.add_delete("/whip/{live_id}", delete_whip)
    app.router.add_post("/whip/{live_id}", post_whip_guest)
    app.router.add_delete("/whip/{live_id}/{user}", delete_whip_guest)
    app.router.add_post("/whep/{live_id}", post_whep)

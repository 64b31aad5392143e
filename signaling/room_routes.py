"""HTTP views of a live room: its state and its recent comments."""

from __future__ import annotations

from aiohttp import web

from signaling.appkeys import FANOUT, LIVES, USER
from signaling.http_body import query_limit


async def get_room(request: web.Request) -> web.Response:
    """Settings, participants and the viewer count; the host also sees requests and viewers.
    Any node answers for the whole live (participants and viewers of every node)."""
    live_id = request.match_info["live_id"]
    user = request[USER]
    fanout = request.app[FANOUT]
    live = await fanout.get_live(live_id)
    if user not in live.participants:
        await fanout.authorize_watch(user, live_id)
    settings = await fanout.rooms.settings(live_id)
    hosting = user == live.host and not live.ended
    publishing, viewers = await request.app[LIVES].room.presence(live_id, viewers=hosting)
    body: dict[str, object] = {
        "live_id": live_id,
        "host": live.host,
        "state": live.state,
        "guests": list(live.guests),
        "publishing": publishing,
        "settings": {"comments": settings.comments, "joins": settings.joins},
        "viewer_count": live.viewer_count,
    }
    if hosting:
        body["join_requests"] = await fanout.rooms.pending_requests(user, live_id)
        body["viewers"] = viewers
    return web.json_response(body)


async def get_comments(request: web.Request) -> web.Response:
    limit = query_limit(request, 50, 500)
    comments = await request.app[FANOUT].rooms.recent_comments(
        request[USER], request.match_info["live_id"], limit
    )
    return web.json_response({"comments": [c.to_json() for c in comments]})


def add_room_routes(app: web.Application) -> None:
    app.router.add_get("/api/lives/{live_id}/room", get_room)
    app.router.add_get("/api/lives/{live_id}/comments", get_comments)

"""Development-only routes (``directlive serve --dev``); never registered otherwise.

They exist to mint tokens, so they need none: a small middleware answers ``/dev/*`` before
authentication. Errors keep the API's shape (``{"error": {code, message}}``).

- ``GET /dev/users``: ``{users: [{id, note}], demo}``, the people the sign-in picker offers.
- ``POST /dev/token {user}``: ``{user, token}``; ``400 bad_user_id``.
- ``POST /dev/broadcast {user?}``: starts a synthetic broadcaster (``demo_broadcaster.py``)
  live as ``user`` (default: the demo's public host) and shares it to all followers;
  ``201 {live_id, host}``; ``409 too_many_broadcasts``.
- ``DELETE /dev/broadcast/{live_id}``: ends it; ``404 live_not_found``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from directlive.errors import BadRequest, Conflict, DirectliveError, NotFound
from signaling.appkeys import CONFIG, FANOUT, LIVES, TOKENS
from signaling.auth import validate_user_id
from signaling.demo import DEMO_HOST, DEMO_USERS, seed_demo
from signaling.demo_broadcaster import DemoBroadcaster
from signaling.errors_http import error_response, http_error_response
from signaling.http_body import read_json
from signaling.middleware import Handler

log = logging.getLogger("directlive.dev")

MAX_BROADCASTS = 2
SUGGESTED = {"alice": "", "bob": "", "carol": "", "dora": ""}


@dataclass
class DevState:
    """The picker's users (suggested, seeded, or signed in once) and running broadcasters."""

    users: dict[str, str] = field(default_factory=lambda: dict(SUGGESTED))
    broadcasters: dict[str, DemoBroadcaster] = field(default_factory=dict)


DEV = web.AppKey("dev", DevState)


@web.middleware
async def dev_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serves ``/dev/*`` without a token (the routes mint tokens); everything else passes."""
    if not request.path.startswith("/dev/") or request.match_info.http_exception is not None:
        return await handler(request)
    try:
        route_handler: Any = request.match_info.handler
        response: web.StreamResponse = await route_handler(request)
        return response
    except DirectliveError as error:
        log.info("dev refused %s %s code=%s", request.method, request.path, error.code)
        return error_response(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return http_error_response(error)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await read_json(request, request.app[CONFIG].max_json_bytes)
    if not isinstance(raw, dict):
        raise BadRequest("the body must be a JSON object", code="bad_body")
    return raw


def _user_field(body: dict[str, Any], default: str | None) -> str:
    user = body.get("user", default)
    if not isinstance(user, str):
        raise BadRequest("user must be a string", code="bad_field")
    return validate_user_id(user.strip().lower())


async def get_users(request: web.Request) -> web.Response:
    state = request.app[DEV]
    users = [{"id": user, "note": note} for user, note in sorted(state.users.items())]
    return web.json_response({"users": users, "demo": request.app[CONFIG].demo})


async def post_token(request: web.Request) -> web.Response:
    user = _user_field(await _body(request), None)
    await request.app[FANOUT].ensure_user(user)
    request.app[DEV].users.setdefault(user, "")
    return web.json_response({"user": user, "token": request.app[TOKENS].mint(user)})


async def post_broadcast(request: web.Request) -> web.Response:
    host = _user_field(await _body(request), DEMO_HOST)
    state = request.app[DEV]
    running = {k: b for k, b in state.broadcasters.items() if b.running}
    state.broadcasters = running
    if len(running) >= MAX_BROADCASTS:
        raise Conflict(f"at most {MAX_BROADCASTS} demo broadcasts at once", "too_many_broadcasts")
    fanout = request.app[FANOUT]
    await fanout.ensure_user(host)
    broadcaster = DemoBroadcaster(request.app[LIVES], host)
    live_id = await broadcaster.start()
    state.broadcasters[live_id] = broadcaster
    live = await fanout.get_live(live_id)
    await fanout.sharing.share(host, live, all_followers=True)
    return web.json_response({"live_id": live_id, "host": host}, status=201)


async def delete_broadcast(request: web.Request) -> web.Response:
    live_id = request.match_info["live_id"]
    broadcaster = request.app[DEV].broadcasters.pop(live_id, None)
    if broadcaster is None:
        raise NotFound(f"no demo broadcast {live_id}", code="live_not_found")
    await broadcaster.stop()
    return web.json_response({"ok": True})


async def _dev_world(app: web.Application) -> AsyncIterator[None]:
    """Seeds the demo world once the planes run (``--demo``); stops broadcasters at exit."""
    state = app[DEV]
    if app[CONFIG].demo:
        await seed_demo(app[FANOUT])
        state.users.update(DEMO_USERS)
        log.info("demo world seeded: %s", ", ".join(sorted(DEMO_USERS)))
    yield
    for broadcaster in list(state.broadcasters.values()):
        await broadcaster.stop()
    state.broadcasters.clear()


def add_dev_routes(app: web.Application) -> None:
    app[DEV] = DevState()
    app.middlewares.insert(0, dev_middleware)
    app.cleanup_ctx.append(_dev_world)
    app.router.add_get("/dev/users", get_users)
    app.router.add_post("/dev/token", post_token)
    app.router.add_post("/dev/broadcast", post_broadcast)
    app.router.add_delete("/dev/broadcast/{live_id}", delete_broadcast)

"""Request pipeline: CORS, authentication, and errors as JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from directlive.errors import DirectliveError
from signaling.appkeys import CONFIG, FANOUT, TOKENS, USER
from signaling.errors_http import error_response, http_error_response

log = logging.getLogger("directlive.signaling")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = ("/healthz", "/static/", "/favicon.ico", "/internal/")
"""``/internal/`` routes authenticate the calling node themselves (``relay_routes``)."""
ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, If-Match"
EXPOSED_HEADERS = "Location, Link, ETag, Accept-Patch, Accept-Post"


def _is_public(path: str) -> bool:
    return path == "/" or any(path.startswith(p) for p in PUBLIC_PATHS)


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    allowed = request.app[CONFIG].cors_origins
    if origin is None or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


def _asks_ice_servers(request: web.Request) -> bool:
    """An ``OPTIONS /whip`` or ``/whep/{live_id}`` with a token and no CORS preflight: RFC 9725
    lets a client learn its ICE servers this way (``signaling.trickle_routes``)."""
    if "Access-Control-Request-Method" in request.headers:
        return False
    if "Authorization" not in request.headers:
        return False
    parts = request.path.strip("/").split("/")
    return parts == ["whip"] or (len(parts) == 2 and parts[0] == "whep")


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = _allowed_origin(request)
    if request.method == "OPTIONS" and not _asks_ice_servers(request):
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Allow"] = ALLOWED_METHODS
        if request.path.startswith(("/whip", "/whep")):
            response.headers["Accept-Post"] = "application/sdp"
        if origin is not None:
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if origin != "*":
            response.headers["Vary"] = "Origin"
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DirectliveError as error:
        log.info(
            "refused %s %s user=%s code=%s: %s",
            request.method,
            request.path,
            request.get(USER),
            error.code,
            error.message,
        )
        return error_response(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return http_error_response(error)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sets ``request[USER]``; the socket may instead authenticate in its first message."""
    if _is_public(request.path):
        return await handler(request)
    header = request.headers.get("Authorization")
    if request.path == "/ws" and header is None:
        return await handler(request)
    user = request.app[TOKENS].from_header(header)
    await request.app[FANOUT].ensure_user(user)  # a user exists from its first valid token
    request[USER] = user
    return await handler(request)

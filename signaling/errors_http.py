"""The one place errors become HTTP statuses and JSON bodies."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from directlive.errors import (
    BadRequest,
    Conflict,
    DirectliveError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unimplemented,
    Unsupported,
    UnsupportedMediaType,
)

log = logging.getLogger("directlive.signaling")

STATUS: list[tuple[type[DirectliveError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (BadRequest, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unsupported, 406),
    (RateLimited, 429),
    (Unavailable, 503),
    (PreconditionFailed, 412),
    (PreconditionRequired, 428),
    (Unimplemented, 501),
]


def status_of(error: DirectliveError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(error: DirectliveError) -> web.Response:
    status = status_of(error)
    response = web.json_response(error_body(error.code, error.message), status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="directlive"'
    return response


def http_error_response(error: web.HTTPException) -> web.Response:
    """aiohttp's own errors (unknown route, wrong method, body too large) as our JSON."""
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    code = codes.get(error.status, "http_error")
    response = web.Response(
        status=error.status,
        text=json.dumps(error_body(code, error.reason)),
        content_type="application/json",
    )
    if "Allow" in error.headers:
        response.headers["Allow"] = error.headers["Allow"]
    return response

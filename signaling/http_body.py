"""Reading request bodies with a size limit and a content type check."""

from __future__ import annotations

from aiohttp import web

from directlive.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from signaling.json_input import parse_json


async def read_limited(request: web.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit} byte limit")
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"body is over the {limit} byte limit")
    return bytes(body)


def require_content_type(request: web.Request, expected: str) -> None:
    if request.content_type != expected:
        raise UnsupportedMediaType(
            f"expected Content-Type: {expected}, got {request.content_type or 'none'}"
        )


async def read_sdp(request: web.Request, limit: int) -> str:
    require_content_type(request, "application/sdp")
    body = await read_limited(request, limit)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("SDP is not UTF-8", code="bad_sdp") from exc


async def read_json(request: web.Request, limit: int) -> object:
    require_content_type(request, "application/json")
    return parse_json(await read_limited(request, limit))


def query_limit(request: web.Request, default: int, maximum: int) -> int:
    """``?limit=``: an ASCII whole number in 1..maximum (``bad_limit`` otherwise)."""
    raw = request.query.get("limit", str(default))
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"limit must be 1..{maximum}", code="bad_limit")
    return int(raw)

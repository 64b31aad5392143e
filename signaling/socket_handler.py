"""The signaling socket ``GET /ws``: JSON messages, each typed; every error a typed message."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from directlive.errors import BadRequest, DirectliveError, RateLimited, Unauthorized
from signaling.appkeys import CONFIG, FANOUT, HUB, LIVES, TOKENS, USER
from signaling.hub import Connection
from signaling.messages import (
    Auth,
    Candidate,
    ClientMessage,
    Envelope,
    LayerCap,
    Leave,
    LiveEnd,
    LiveStart,
    Ping,
    Watch,
    parse_message,
    request_id_of,
)
from signaling.room_handlers import handle_room_message

log = logging.getLogger("directlive.signaling")

AUTH_TIMEOUT = 10.0
MAX_PENDING_REQUESTS = 16
"""Requests one socket may have in progress (each watch or go-live is a peer connection)."""
Reply = dict[str, object]


def error_message(error: DirectliveError, request_id: str | int | None) -> Reply:
    reply: Reply = {"type": "error", "code": error.code, "message": error.message}
    if request_id is not None:
        reply["id"] = request_id
    return reply


async def _authenticate(request: web.Request, ws: web.WebSocketResponse) -> str:
    """The user from the Authorization header, or from a first ``auth`` message."""
    user = request.get(USER)
    if isinstance(user, str):
        return user
    try:
        first = await ws.receive(timeout=AUTH_TIMEOUT)
    except TimeoutError as exc:
        raise Unauthorized("no auth message within 10 s", code="auth_timeout") from exc
    if first.type != WSMsgType.TEXT:
        raise Unauthorized("the first message must be auth", code="auth_required")
    envelope = parse_message(first.data, request.app[CONFIG].max_socket_message_bytes)
    if not isinstance(envelope.message, Auth):
        raise Unauthorized("the first message must be auth", code="auth_required")
    return request.app[TOKENS].verify(envelope.message.token)


async def handle_socket(request: web.Request) -> web.WebSocketResponse:
    config = request.app[CONFIG]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=config.max_socket_message_bytes + 1)
    await ws.prepare(request)
    try:
        user = await _authenticate(request, ws)
    except DirectliveError as error:
        log.info("socket auth refused code=%s", error.code)
        if not ws.closed:  # the client may already be gone
            with contextlib.suppress(ConnectionError):
                await ws.send_json(error_message(error, None))
                await ws.close(code=4001, message=error.code.encode())
        return ws
    fanout = request.app[FANOUT]
    await fanout.ensure_user(user)
    connection = Connection(user, ws, config.socket_outbox_limit, request.transport)
    hub = request.app[HUB]
    try:
        if hub.add(connection):
            await fanout.user_online(user)
        connection.send({"type": "hello", "user": user})
        log.info("socket open user=%s conn=%d", user, connection.id)
        await _serve(request, ws, connection)
    finally:
        request.app[LIVES].room.drop_connection(connection)
        request.app[LIVES].cobroadcast.drop_connection(connection)
        if hub.remove(connection):
            await fanout.user_offline(user)
        await connection.close()
        log.info("socket closed user=%s conn=%d", user, connection.id)
    return ws


async def _serve(request: web.Request, ws: web.WebSocketResponse, connection: Connection) -> None:
    limit = request.app[CONFIG].max_socket_message_bytes
    pending: set[asyncio.Task[None]] = set()
    try:
        async for frame in ws:
            if frame.type == WSMsgType.ERROR:
                break
            if frame.type != WSMsgType.TEXT:
                connection.send(error_message(BadRequest("send JSON text", "bad_message"), None))
                continue
            try:
                envelope = parse_message(frame.data, limit)
            except DirectliveError as error:
                log.info("socket bad message user=%s code=%s", connection.user, error.code)
                connection.send(error_message(error, request_id_of(frame.data)))
                continue
            if len(pending) >= MAX_PENDING_REQUESTS:
                busy = RateLimited(
                    f"at most {MAX_PENDING_REQUESTS} requests in progress per socket",
                    code="rate_limited",
                )
                connection.send(error_message(busy, envelope.request_id))
                continue
            task = asyncio.ensure_future(_dispatch(request, connection, envelope))
            pending.add(task)
            task.add_done_callback(pending.discard)
    finally:
        for task in pending:
            task.cancel()
        for task in list(pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _dispatch(request: web.Request, connection: Connection, envelope: Envelope) -> None:
    try:
        reply = await _handle(request, connection, envelope.message)
    except DirectliveError as error:
        log.info("socket refused user=%s code=%s", connection.user, error.code)
        connection.send(error_message(error, envelope.request_id))
        return
    except Exception:
        log.exception("socket handler failed user=%s", connection.user)
        internal = DirectliveError("internal error", code="internal")
        connection.send(error_message(internal, envelope.request_id))
        return
    if envelope.request_id is not None:
        reply["id"] = envelope.request_id
    connection.send(reply)


async def _handle(request: web.Request, connection: Connection, message: ClientMessage) -> Reply:
    lives = request.app[LIVES]
    user = connection.user
    match message:
        case Ping():
            return {"type": "pong"}
        case Auth():
            raise BadRequest("already authenticated", code="already_authenticated")
        case LiveStart(sdp=sdp, record=record):
            live_id, answer = await lives.go_live(user, sdp, record=record)
            return {"type": "live.started", "live_id": live_id, "sdp": answer}
        case LiveEnd(live_id=live_id):
            await lives.end_live(user, live_id)
            return {"type": "live.end.ok", "live_id": live_id}
        case Watch(
            live_id=live_id,
            sdp=sdp,
            via_thread=via_thread,
            participant=participant,
            max_layer=max_layer,
        ):
            session_id, answer = await lives.watch(
                user,
                live_id,
                sdp,
                via_thread,
                participant=participant,
                owner=connection,
                max_layer=max_layer,
            )
            return {
                "type": "watch.answer",
                "live_id": live_id,
                "session_id": session_id,
                "sdp": answer,
            }
        case LayerCap(
            live_id=live_id, session_id=session_id, max_layer=max_layer, participant=participant
        ):
            await lives.set_max_layer(user, live_id, session_id, max_layer, participant)
            reply: Reply = {"type": "layer.ok", "session_id": session_id, "max_layer": max_layer}
            if participant is not None:
                reply["participant"] = participant
            return reply
        case Leave(live_id=live_id, session_id=session_id):
            await lives.leave(user, live_id, session_id)
            return {"type": "left", "live_id": live_id, "session_id": session_id}
        case Candidate(live_id=live_id, session_id=session_id, candidate=cand, sdp_mid=mid):
            await lives.add_candidate(user, live_id, session_id, cand, mid)
            return {"type": "ice.ok"}
        case _:
            return await handle_room_message(lives, request.app[FANOUT], connection, message)

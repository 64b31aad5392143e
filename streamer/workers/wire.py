"""The stream between a node's main process and one of its media worker processes.

One Unix stream socket per worker, carrying msgpack values back to back (``msgpack.Unpacker``
finds their boundaries). Two shapes travel on it:

- frames, the hot path, as arrays: ``["f", source_key, data, timestamp, keyframe, picture_id]``
  (main to worker), handled synchronously as they are read;
- everything else as maps with an ``op``: the typed messages of ``streamer.workers.messages``,
  parsed here before any handler sees them. A request carries an ``id``; its reply is
  ``{"op": "reply", "id": ..., "result": ...}`` or ``{..., "error": {"type", "code",
  "message"}}``, where ``type`` names a class of ``directlive.errors``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import msgpack

from directlive import errors
from directlive.errors import DirectliveError, Unavailable
from streamer.workers.messages import BadMessage, Message, Notice, Request, from_wire, to_wire

log = logging.getLogger("directlive.streamer")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""A GOP sent to a worker with its source can be a few MB; nothing legitimate nears this."""
REQUEST_TIMEOUT = 20.0

FrameHandler = Callable[[list[Any]], None]
MessageHandler = Callable[[Message, int | None], None]
"""Called with each message and, for a request, the id its reply must carry."""


def error_reply(exc: DirectliveError) -> dict[str, str]:
    return {"type": type(exc).__name__, "code": exc.code, "message": exc.message}


def error_from_reply(error: dict[str, str]) -> DirectliveError:
    """The error the other side raised, as the same class of ``directlive.errors``."""
    cls = getattr(errors, str(error.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, DirectliveError)):
        cls = Unavailable
    return cls(str(error.get("message", "media worker error")), code=error.get("code"))


class WireProtocol(asyncio.Protocol):
    """Both ends of the worker socket: framing, requests with replies, and close."""

    def __init__(self, on_frame: FrameHandler, on_message: MessageHandler) -> None:
        self._on_frame = on_frame
        self._on_message = on_message
        self._unpacker = msgpack.Unpacker(max_buffer_size=MAX_MESSAGE_BYTES)
        self._packer = msgpack.Packer()
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._unpacker.feed(data)
        for value in self._unpacker:
            try:
                if isinstance(value, list):
                    self._on_frame(value)
                elif isinstance(value, dict) and value.get("op") == "reply":
                    self._settle(value)
                elif isinstance(value, dict):
                    request_id = value.get("id")
                    self._on_message(
                        from_wire(value), request_id if isinstance(request_id, int) else None
                    )
                else:
                    log.warning("worker wire: ignoring a %s", type(value).__name__)
            except BadMessage as exc:
                log.warning("worker wire: ignoring a bad message: %s", exc)
            except Exception:
                log.exception("worker wire: handling a message failed")

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    Unavailable("the media worker went away", code="media_worker_lost")
                )
        self._pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() if self._transport is not None else 0

    def send_frame(self, frame: list[Any]) -> bool:
        """Queue one frame (``messages.frame_to_wire``); False when the other side is gone."""
        return self._write(frame)

    def send(self, message: Notice) -> bool:
        """Queue one message; False when the other side is gone."""
        return self._write(to_wire(message))

    def _write(self, value: object) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        transport.write(self._packer.pack(value))
        return True

    async def request(self, request: Request, timeout: float = REQUEST_TIMEOUT) -> Any:
        """Send ``request`` and wait for its reply's result; the other side's error is raised."""
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            if not self._write({**to_wire(request), "id": request_id}):
                raise Unavailable("the media worker went away", code="media_worker_lost")
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError as exc:
                raise Unavailable(
                    f"media worker did not answer {request.op}", code="media_timeout"
                ) from exc
        finally:
            self._pending.pop(request_id, None)

    def reply(
        self, request_id: int | None, result: Any = None, error: DirectliveError | None = None
    ) -> None:
        body: dict[str, Any] = {"op": "reply", "id": request_id}
        if error is None:
            body["result"] = result
        else:
            body["error"] = error_reply(error)
        self._write(body)

    def _settle(self, reply: dict[str, Any]) -> None:
        future = self._pending.get(reply.get("id", -1))
        if future is None or future.done():
            return
        error = reply.get("error")
        if error is not None:
            future.set_exception(error_from_reply(error))
        else:
            future.set_result(reply.get("result"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

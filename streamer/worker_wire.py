"""The stream between a node's main process and one of its media worker processes.

One Unix stream socket per worker, carrying msgpack values back to back (``msgpack.Unpacker``
finds their boundaries). Two shapes travel on it:

- frames, the hot path, as arrays: ``["f", source_key, data, timestamp, keyframe, picture_id]``
  (main to worker), handled synchronously as they are read;
- everything else as maps with an ``op``. A request carries an ``id``; its reply is
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
from aiortc import RTCRtpCodecParameters
from aiortc.rtcrtpparameters import RTCRtcpFeedback

from directlive import errors
from directlive.errors import DirectliveError, Unavailable
from streamer.frames import EncodedFrame

log = logging.getLogger("directlive.streamer")

FRAME = "f"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""A GOP sent to a worker with its source can be a few MB; nothing legitimate nears this."""
REQUEST_TIMEOUT = 20.0

Message = dict[str, Any]
FrameHandler = Callable[[list[Any]], None]
MessageHandler = Callable[[Message], None]


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
                    self._on_message(value)
                else:
                    log.warning("worker wire: ignoring a %s", type(value).__name__)
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

    def send(self, message: Message | list[Any]) -> bool:
        """Queue one message; False when the other side is gone."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        transport.write(self._packer.pack(message))
        return True

    async def request(self, op: str, timeout: float = REQUEST_TIMEOUT, **fields: Any) -> Any:
        """Send ``op`` and wait for its reply's result; the other side's error is raised."""
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            if not self.send({"op": op, "id": request_id, **fields}):
                raise Unavailable("the media worker went away", code="media_worker_lost")
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError as exc:
                raise Unavailable(
                    f"media worker did not answer {op}", code="media_timeout"
                ) from exc
        finally:
            self._pending.pop(request_id, None)

    def reply(
        self, request: Message, result: Any = None, error: DirectliveError | None = None
    ) -> None:
        body: Message = {"op": "reply", "id": request.get("id")}
        if error is None:
            body["result"] = result
        else:
            body["error"] = error_reply(error)
        self.send(body)

    def _settle(self, reply: Message) -> None:
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


def codec_to_wire(codec: RTCRtpCodecParameters) -> Message:
    return {
        "mimeType": codec.mimeType,
        "clockRate": codec.clockRate,
        "channels": codec.channels,
        "payloadType": codec.payloadType,
        "parameters": dict(codec.parameters),
        "rtcpFeedback": [[f.type, f.parameter] for f in codec.rtcpFeedback],
    }


def codec_from_wire(wire: Message) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=wire["mimeType"],
        clockRate=wire["clockRate"],
        channels=wire["channels"],
        payloadType=wire["payloadType"],
        parameters=dict(wire["parameters"]),
        rtcpFeedback=[RTCRtcpFeedback(type=t, parameter=p) for t, p in wire["rtcpFeedback"]],
    )


def frame_to_wire(key: int, frame: EncodedFrame) -> list[Any]:
    return [FRAME, key, frame.data, frame.timestamp, frame.keyframe, frame.picture_id]


def frame_from_wire(value: list[Any]) -> tuple[int, EncodedFrame]:
    _, key, data, timestamp, keyframe, picture_id = value
    return key, EncodedFrame(data, timestamp, keyframe, picture_id=picture_id)

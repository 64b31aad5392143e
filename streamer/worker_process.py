"""A media worker process: serves viewer connections from copies of the node's sources.

The node's main process (``streamer.worker_pool``) sends each worker every frame of the
sources its viewers watch, once, and asks it to negotiate, renegotiate and close viewer
sessions. Here each source is a ``TrackSource`` fed from the socket, so viewers get the same
GOP priming, slow-viewer handling and forwarding path as in the main process. The process
is ``python -m streamer.worker_main``; it exits when the socket closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpCodecParameters

from directlive.errors import DirectliveError, NotFound, Unavailable
from streamer.aiortc.udp_mux import UdpMux
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.viewer import SourceWithCodec, ViewerSession
from streamer.worker_wire import Message, WireProtocol, codec_from_wire, frame_from_wire

log = logging.getLogger("directlive.streamer.worker")

KEYFRAME_REQUEST_INTERVAL = 0.1
"""Requests are coalesced here only against bursts; the main process rate-limits them."""


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """What the main process tells a worker when it starts it (``--config``)."""

    index: int = 0
    ice_addresses: tuple[str, ...] = ()
    udp_port: int | None = None
    """The shared UDP port of worker 0 (``streamer.aiortc.udp_mux``); worker ``index`` adds
    ``index``. None: one ephemeral port per connection."""
    fast_forwarding: bool = True
    viewer_queue_limit: int = 240
    log_level: str = "INFO"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSettings:
        fields = json.loads(text)
        fields["ice_addresses"] = tuple(fields.get("ice_addresses", ()))
        return cls(**fields)


class MediaWorker:
    """Copies of sources, and the viewer sessions reading them, in this process."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.stats = ForwardingStats()
        self.sources: dict[int, tuple[TrackSource, RTCRtpCodecParameters]] = {}
        self.sessions: dict[str, ViewerSession] = {}
        self.wire = WireProtocol(self._on_frame, self._on_message)
        self.udp_mux: UdpMux | None = None
        if settings.udp_port is not None:  # udp-port call site
            self.udp_mux = UdpMux(settings.udp_port + settings.index, self.stats)
            self.udp_mux.bind_host_addresses()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers = {
            "watch": self._watch,
            "leave": self._leave,
            "candidate": self._candidate,
            "offer": self._offer,
            "answer": self._answer,
            "stats": self._stats,
        }

    # ---- frames and sources --------------------------------------------------------

    def _on_frame(self, value: list[Any]) -> None:
        key, frame = frame_from_wire(value)
        entry = self.sources.get(key)
        if entry is not None:
            entry[0].push_frame(frame)

    def _open_source(self, message: Message) -> None:
        key = int(message["key"])
        source = TrackSource(
            track_id=message["track_id"],
            participant=message["participant"],
            kind=message["kind"],
            mime_type=message["mime_type"],
            stats=self.stats,
            request_upstream_keyframe=self._keyframe_requester(key),
            keyframe_interval=KEYFRAME_REQUEST_INTERVAL,
            viewer_queue_limit=self.settings.viewer_queue_limit,
        )
        for value in message.get("gop", []):
            source.push_frame(frame_from_wire(value)[1])
        self.sources[key] = (source, codec_from_wire(message["codec"]))

    def _keyframe_requester(self, key: int) -> Callable[[], None]:
        def request() -> None:
            self.wire.send({"op": "keyframe", "key": key})

        return request

    def _close_source(self, message: Message) -> None:
        entry = self.sources.pop(int(message["key"]), None)
        if entry is not None:
            entry[0].close()

    # ---- requests ------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        op = message.get("op")
        if op == "source.open":
            self._open_source(message)
        elif op == "source.close":
            self._close_source(message)
        elif op in self._handlers:
            self._spawn(self._serve(message))
        else:
            log.warning("worker %d: unknown op %r", self.settings.index, op)

    async def _serve(self, message: Message) -> None:
        handler = self._handlers[str(message["op"])]
        try:
            result = await handler(message)
        except DirectliveError as exc:
            self.wire.reply(message, error=exc)
        except Exception as exc:
            log.exception("worker %d: %s failed", self.settings.index, message["op"])
            self.wire.reply(message, error=Unavailable(f"media worker failed: {exc!r}"))
        else:
            self.wire.reply(message, result)

    def _sources(self, keys: list[int]) -> list[SourceWithCodec]:
        missing = [key for key in keys if key not in self.sources]
        if missing:
            raise NotFound("the live's tracks ended", code="live_not_found")
        return [self.sources[key] for key in keys]

    def _session(self, message: Message) -> ViewerSession:
        session = self.sessions.get(str(message["session_id"]))
        if session is None:
            raise NotFound("no such viewer session", code="session_not_found")
        return session

    async def _watch(self, message: Message) -> str:
        session = ViewerSession(
            session_id=message["session_id"],
            live_id=message["live_id"],
            user=message["user"],
            on_connection_lost=self._session_lost,
            fast_forwarding=self.settings.fast_forwarding,
            participant=message.get("participant"),
            udp_mux=self.udp_mux,
        )
        self.sessions[session.session_id] = session
        try:
            return await session.answer(message["sdp"], self._sources(message["sources"]))
        except BaseException:
            self.sessions.pop(session.session_id, None)
            await session.close()
            raise

    async def _leave(self, message: Message) -> None:
        session = self._session(message)
        self.sessions.pop(session.session_id, None)
        await session.close()

    async def _candidate(self, message: Message) -> None:
        await self._session(message).add_candidate(message["candidate"], message.get("sdp_mid"))

    async def _offer(self, message: Message) -> str | None:
        session = self._session(message)
        return await session.offer_sources(self._sources(message["sources"]))

    async def _answer(self, message: Message) -> None:
        await self._session(message).accept_answer(message["sdp"])

    async def _stats(self, message: Message) -> dict[str, int]:
        return dataclasses.asdict(self.stats)

    def _session_lost(self, session: ViewerSession) -> None:
        if self.sessions.pop(session.session_id, None) is None:
            return
        self._spawn(session.close())
        self.wire.send({"op": "viewer.lost", "session_id": session.session_id})

    # ---- life ----------------------------------------------------------------------

    async def close(self) -> None:
        sessions = list(self.sessions.values())
        self.sessions.clear()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        for source, _ in self.sources.values():
            source.close()
        self.sources.clear()
        for task in list(self._tasks):
            task.cancel()
        if self.udp_mux is not None:
            self.udp_mux.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

"""A media worker process: serves viewer connections from copies of the node's sources.

The node's main process (``streamer.workers.pool``) sends each worker every frame of the
sources its viewers watch, once, and asks it to negotiate, renegotiate and close viewer
sessions. Here each source is a ``TrackSource`` fed from the socket, so viewers get the same
GOP priming, slow-viewer handling and forwarding path as in the main process. The process
is ``python -m streamer.workers.main``; it exits when the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiortc import RTCRtpCodecParameters

from directlive.errors import DirectliveError, NotFound, Unavailable
from streamer.aiortc import HostAddresses, check_internals
from streamer.aiortc.udp_mux import UdpMux
from streamer.forwarding.datagrams import UdpGso
from streamer.layers.layer_set import LayerSet
from streamer.layers.viewer_layers import count_layer_viewers
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.viewer import SourceWithCodec, ViewerSession
from streamer.workers.layer_feeds import LayerFeeds
from streamer.workers.messages import (
    AcceptAnswer,
    Candidate,
    FeedResumed,
    FeedUnwanted,
    FeedWanted,
    KeyframeWanted,
    LayerCap,
    Leave,
    Message,
    OfferSources,
    Request,
    SourceClose,
    SourceOpen,
    StatsWanted,
    ViewerLost,
    Watch,
    codec_from_wire,
    frame_from_wire,
)
from streamer.workers.settings import WorkerSettings
from streamer.workers.wire import WireProtocol

log = logging.getLogger("directlive.streamer.worker")

KEYFRAME_REQUEST_INTERVAL = 0.1
"""Requests are coalesced here only against bursts; the main process rate-limits them."""


class MediaWorker:
    """Copies of sources, and the viewer sessions reading them, in this process."""

    def __init__(self, settings: WorkerSettings) -> None:
        check_internals()
        self.settings = settings
        self.stats = ForwardingStats()
        self.host_addresses = HostAddresses(settings.ice_addresses)
        self.gso = UdpGso(settings.udp_gso)
        self.sources: dict[int, tuple[TrackSource, RTCRtpCodecParameters]] = {}
        self.sessions: dict[str, ViewerSession] = {}
        self.layer_sets: dict[tuple[int, ...], LayerSet] = {}
        """Layer sets over the copies of sources, by their keys in m-line order."""
        self.wire = WireProtocol(self._on_frame, self._on_message)
        self.layer_feeds = LayerFeeds(self.wire)
        self.udp_mux: UdpMux | None = None
        if settings.udp_port is not None:
            self.udp_mux = UdpMux(settings.udp_port + settings.index, self.stats)
            self.udp_mux.bind_host_addresses(self.host_addresses)
        self._tasks: set[asyncio.Future[None]] = set()

    # ---- frames and sources --------------------------------------------------------

    def _on_frame(self, value: list[Any]) -> None:
        key, frame = frame_from_wire(value)
        entry = self.sources.get(key)
        if entry is not None and self.layer_feeds.takes(key):
            entry[0].push_frame(frame)

    def _open_source(self, message: SourceOpen) -> None:
        source = TrackSource(
            track_id=message.track_id,
            participant=message.participant,
            kind=message.kind,
            mime_type=message.mime_type,
            stats=self.stats,
            request_upstream_keyframe=self._keyframe_requester(message.key),
            keyframe_interval=KEYFRAME_REQUEST_INTERVAL,
            viewer_queue_limit=self.settings.viewer_queue_limit,
            gso=self.gso,
        )
        for value in message.gop:
            source.push_frame(frame_from_wire(value)[1])
        self.sources[message.key] = (source, codec_from_wire(message.codec))

    def _keyframe_requester(self, key: int) -> Callable[[], None]:
        def request() -> None:
            self.wire.send(KeyframeWanted(key=key))

        return request

    def _close_source(self, message: SourceClose) -> None:
        entry = self.sources.pop(message.key, None)
        if entry is not None:
            entry[0].close()
        self.layer_feeds.forget(message.key)
        for keys in [keys for keys in self.layer_sets if message.key in keys]:
            self.layer_sets.pop(keys).close()

    # ---- requests ------------------------------------------------------------------

    def _on_message(self, message: Message, request_id: int | None) -> None:
        if isinstance(message, SourceOpen):
            self._open_source(message)
        elif isinstance(message, SourceClose):
            self._close_source(message)
        elif isinstance(message, FeedResumed):
            gop = [frame_from_wire(value)[1] for value in message.gop]
            self.layer_feeds.resumed(message.key, message.epoch, gop)
        elif isinstance(message, KeyframeWanted | ViewerLost | FeedWanted | FeedUnwanted):
            log.warning("worker %d: unexpected %s", self.settings.index, message.op)
        else:
            self._spawn(self._serve(message, request_id))

    async def _serve(self, request: Request, request_id: int | None) -> None:
        try:
            result = await self._handle(request)
        except DirectliveError as exc:
            self.wire.reply(request_id, error=exc)
        except Exception as exc:
            log.exception("worker %d: %s failed", self.settings.index, request.op)
            self.wire.reply(request_id, error=Unavailable(f"media worker failed: {exc!r}"))
        else:
            self.wire.reply(request_id, result)

    async def _handle(self, request: Request) -> object:
        if isinstance(request, Watch):
            return await self._watch(request)
        if isinstance(request, StatsWanted):
            count_layer_viewers(
                self.stats, (c for s in self.sessions.values() for c in s.layered.values())
            )
            return dataclasses.asdict(self.stats)
        session = self._session(request.session_id)
        if isinstance(request, Leave):
            self.sessions.pop(session.session_id, None)
            await session.close()
            return None
        if isinstance(request, Candidate):
            await session.add_candidate(request.candidate, request.sdp_mid)
            return None
        if isinstance(request, OfferSources):
            sources = self._sources(request.sources, request.layers)
            carried = {id(source) for source, _ in session.tracks}
            new = [entry for entry in sources if id(entry[0]) not in carried]
            async with self._starting_layers_fed(session, new):
                return await session.offer_sources(sources)
        if isinstance(request, LayerCap):
            await session.set_max_layer(request.max_layer, request.participant)
            return None
        if isinstance(request, AcceptAnswer):
            await session.accept_answer(request.sdp)
            return None
        raise NotFound(f"no such request: {request.op}")

    def _sources(self, keys: list[int], layers: list[list[int]]) -> list[SourceWithCodec]:
        """The sources of ``keys``, each tied to its layers (``Watch.layers``) here too."""
        wanted = [*keys, *(key for group in layers for key in group)]
        if any(key not in self.sources for key in wanted):
            raise NotFound("the live's tracks ended", code="live_not_found")
        for group in layers:
            if len(group) > 1 and tuple(group) not in self.layer_sets:
                members = [self.sources[key][0] for key in group]
                layer_set = self.layer_sets[tuple(group)] = LayerSet(members)
                self.layer_feeds.add(layer_set, group)
        return [self.sources[key] for key in keys]

    @contextlib.asynccontextmanager
    async def _starting_layers_fed(
        self, session: ViewerSession, sources: list[SourceWithCodec]
    ) -> AsyncIterator[None]:
        """While the block runs, the layer ``session`` starts on of each layered source is
        held and fed (so its viewer starts on the layer's GOP at once)."""
        async with contextlib.AsyncExitStack() as stack:
            for source, _ in sources:
                layers, start = source.layers, session.start_layer(source)
                if layers is not None and start is not None:
                    await stack.enter_async_context(self.layer_feeds.holding(layers, start))
            yield

    def _session(self, session_id: str) -> ViewerSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise NotFound("no such viewer session", code="session_not_found")
        return session

    async def _watch(self, request: Watch) -> str:
        session = ViewerSession(
            session_id=request.session_id,
            live_id=request.live_id,
            user=request.user,
            on_connection_lost=self._session_lost,
            host_addresses=self.host_addresses,
            gso=self.gso,
            fast_forwarding=self.settings.fast_forwarding,
            participant=request.participant,
            udp_mux=self.udp_mux,
            max_layer=request.max_layer,
        )
        self.sessions[session.session_id] = session
        try:
            sources = self._sources(request.sources, request.layers)
            async with self._starting_layers_fed(session, sources):
                return await session.answer(request.sdp, sources)
        except BaseException:
            self.sessions.pop(session.session_id, None)
            await session.close()
            raise

    def _session_lost(self, session: ViewerSession) -> None:
        if self.sessions.pop(session.session_id, None) is None:
            return
        self._spawn(session.close())
        self.wire.send(ViewerLost(session_id=session.session_id))

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

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

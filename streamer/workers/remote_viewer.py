"""A viewer session served by a media worker process, as the main process holds it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from aiortc import RTCRtpCodecParameters

from directlive.errors import DirectliveError
from streamer.source import TrackSource
from streamer.viewer import SourceWithCodec
from streamer.workers.feeds import Feeds, SourceFeed
from streamer.workers.messages import (
    AcceptAnswer,
    Candidate,
    LayerCap,
    Leave,
    OfferSources,
    Watch,
)
from streamer.workers.wire import WireProtocol

log = logging.getLogger("directlive.streamer")


class RemoteViewerSession:
    """Same face as ``ViewerSession``; every call is a request to the session's worker,
    and the sources it watches are fed to that worker (once per worker, not per viewer)."""

    def __init__(
        self,
        *,
        session_id: str,
        live_id: str,
        user: str,
        worker_index: int,
        wire: WireProtocol,
        feeds: Feeds,
        on_release: Callable[[RemoteViewerSession], None],
        participant: str | None = None,
        max_layer: int | None = None,
    ) -> None:
        self.session_id = session_id
        self.max_layer = max_layer
        self.live_id = live_id
        self.user = user
        self.participant = participant
        self.worker_index = worker_index
        self._wire = wire
        self._feeds = feeds
        self._on_release = on_release
        self.feeds: list[SourceFeed] = []
        self._closed = False

    async def answer(self, offer_sdp: str, sources: list[SourceWithCodec]) -> str:
        keys, layers = self._feed(sources)
        request = Watch(
            session_id=self.session_id,
            live_id=self.live_id,
            user=self.user,
            participant=self.participant,
            sdp=offer_sdp,
            sources=keys,
            layers=layers,
            max_layer=self.max_layer,
        )
        answer: str = await self._wire.request(request)
        return answer

    async def add_candidate(self, candidate: str, sdp_mid: str | None) -> None:
        await self._wire.request(
            Candidate(session_id=self.session_id, candidate=candidate, sdp_mid=sdp_mid)
        )

    async def offer_sources(self, sources: list[SourceWithCodec]) -> str | None:
        keys, layers = self._feed(sources)
        request = OfferSources(session_id=self.session_id, sources=keys, layers=layers)
        offer: str | None = await self._wire.request(request)
        return offer

    async def set_max_layer(self, max_layer: int | None, participant: str | None = None) -> None:
        if participant is None:
            self.max_layer = max_layer
        request = LayerCap(session_id=self.session_id, max_layer=max_layer, participant=participant)
        await self._wire.request(request)

    async def accept_answer(self, sdp: str) -> None:
        await self._wire.request(AcceptAnswer(session_id=self.session_id, sdp=sdp))

    def _feed(self, sources: list[SourceWithCodec]) -> tuple[list[int], list[list[int]]]:
        """Make sure the worker receives ``sources`` (every layer of a layered one); their
        keys on that worker, and per source the keys of its layers (or [])."""
        keys: list[int] = []
        layers: list[list[int]] = []
        for source, codec in sources:
            keys.append(self._open(source, codec))
            layer_set = source.layers
            members = [] if layer_set is None else layer_set.sources
            layers.append([self._open(member, codec) for member in members])
        return keys, layers

    def _open(self, source: TrackSource, codec: RTCRtpCodecParameters) -> int:
        feed = self._feeds.open(source, codec)
        if feed not in self.feeds:
            feed.readers += 1
            self.feeds.append(feed)
        return feed.key

    def release(self) -> None:
        """Forget the session here; feeds no other session on the worker reads stop."""
        if self._closed:
            return
        self._closed = True
        self._on_release(self)
        feeds, self.feeds = self.feeds, []
        for feed in feeds:
            self._feeds.release(feed)

    async def close(self) -> None:
        if self._closed:
            return
        self.release()
        with contextlib.suppress(DirectliveError):
            await self._wire.request(Leave(session_id=self.session_id))

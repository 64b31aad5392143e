"""The edge's end of a relay link: a local copy of a live whose publishers are on its origin.

Each participant of the origin becomes a ``RelayedParticipant`` whose ``TrackSource``\\ s are
fed from the link instead of a receiver: viewers, media workers and the GOP cache cannot tell
the difference. A source's keyframe requests go back up the link, already coalesced by the
source (once per edge). When the link drops and comes back, sources keep their identity by
track id, so attached viewers carry on from the next keyframe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCRtpCodecParameters

from directlive.errors import NotFound
from streamer.forwarding.datagrams import UdpGso
from streamer.layers.layer_set import LayerSet
from streamer.publisher import PublisherSession
from streamer.relay.channel import ChannelClosed, RelayChannel
from streamer.relay.messages import LiveOver, Ready, relay_from_wire
from streamer.relay.stats import RelayStats
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.workers.messages import (
    BadMessage,
    KeyframeWanted,
    SourceClose,
    SourceOpen,
    codec_from_wire,
    frame_from_wire,
    to_wire,
)

log = logging.getLogger("directlive.streamer")


class RelayedParticipant:
    """A participant publishing on the origin, as the edge's media sees it (a publisher)."""

    def __init__(self, participant: str) -> None:
        self.participant = participant
        self.sources: list[TrackSource] = []
        self.codecs: dict[str, RTCRtpCodecParameters] = {}
        self.connected = asyncio.Event()
        self.connected.set()
        self.layer_sets: list[LayerSet] = []
        """Always empty: a link carries one layer of each picture, its origin's best."""

    @property
    def viewer_sources(self) -> list[TrackSource]:
        return self.sources

    @property
    def best_sources(self) -> list[TrackSource]:
        return self.sources

    def codec_of(self, source: TrackSource) -> RTCRtpCodecParameters:
        return self.codecs[source.track_id]

    async def add_candidate(self, candidate: str, sdp_mid: str | None) -> None:
        raise NotFound("this participant publishes to another node", code="session_not_found")

    async def close(self) -> None:
        for source in self.sources:
            source.close()


AnyPublisher = PublisherSession | RelayedParticipant
"""A live's participant as a node's media sees it: publishing here, or relayed."""


class RelayedMedia:
    """What one edge keeps of a live across its link's reconnections."""

    def __init__(
        self,
        live_id: str,
        media_stats: ForwardingStats,
        gso: UdpGso,
        keyframe_interval: float,
        viewer_queue_limit: int,
    ) -> None:
        self.live_id = live_id
        self.host = ""
        self.participants: dict[str, AnyPublisher] = {}
        self._media_stats = media_stats
        self._gso = gso
        self._keyframe_interval = keyframe_interval
        self._viewer_queue_limit = viewer_queue_limit
        self._by_track: dict[str, TrackSource] = {}
        self._key_of: dict[str, int] = {}
        """The current link's key of each track."""
        self.channel: RelayChannel | None = None

    def source_for(self, message: SourceOpen) -> tuple[TrackSource, bool]:
        """The source of ``message``'s track, and whether it is new (so its GOP applies)."""
        self._key_of[message.track_id] = message.key
        known = self._by_track.get(message.track_id)
        if known is not None and not known.closed:
            known.request_keyframe()
            return known, False
        track_id = message.track_id
        source = TrackSource(
            track_id=track_id,
            participant=message.participant,
            kind=message.kind,
            mime_type=message.mime_type,
            stats=self._media_stats,
            request_upstream_keyframe=lambda: self._ask_keyframe(track_id),
            keyframe_interval=self._keyframe_interval,
            viewer_queue_limit=self._viewer_queue_limit,
            gso=self._gso,
        )
        self._by_track[track_id] = source
        participant = self.participants.get(message.participant)
        if participant is None:
            participant = self.participants[message.participant] = RelayedParticipant(
                message.participant
            )
        participant.sources.append(source)
        participant.codecs[track_id] = codec_from_wire(message.codec)
        return source, True

    def _ask_keyframe(self, track_id: str) -> None:
        key = self._key_of.get(track_id)
        if self.channel is not None and key is not None:
            self.channel.send(to_wire(KeyframeWanted(key=key)))

    def close_source(self, source: TrackSource) -> None:
        source.close()
        self._by_track.pop(source.track_id, None)
        self._key_of.pop(source.track_id, None)
        participant = self.participants.get(source.participant)
        if participant is None:
            return
        if source in participant.sources:
            participant.sources.remove(source)
        if not participant.sources:
            del self.participants[source.participant]

    def keep_only(self, track_ids: set[str]) -> None:
        """After a reconnection: close the sources the origin no longer has."""
        for track_id, source in list(self._by_track.items()):
            if track_id not in track_ids:
                self.close_source(source)

    def close(self) -> None:
        for source in list(self._by_track.values()):
            self.close_source(source)


class EdgeLink:
    """One connection of an edge to its origin, for one live."""

    def __init__(
        self,
        media: RelayedMedia,
        channel: RelayChannel,
        stats: RelayStats,
        on_sources_changed: Callable[[], None],
    ) -> None:
        self.media = media
        self.channel = channel
        self.stats = stats
        self.ready = asyncio.Event()
        """Set once the origin has opened every source it had when the link opened."""
        self.live_over = False
        """Whether the origin said the live ended (rather than the link dropping)."""
        self._on_sources_changed = on_sources_changed
        self._sources: dict[int, TrackSource] = {}
        media.channel = channel

    async def run(self) -> None:
        """Take the origin's messages until the link closes or the live is over."""
        try:
            while True:
                value = await self.channel.receive()
                if isinstance(value, list):
                    self._frame(value)
                    continue
                message = relay_from_wire(value)
                if isinstance(message, SourceOpen):
                    self._open(message)
                elif isinstance(message, SourceClose):
                    source = self._sources.pop(message.key, None)
                    if source is not None:
                        self.media.close_source(source)
                        self._on_sources_changed()
                elif isinstance(message, Ready):
                    self.media.host = message.host
                    self.media.keep_only({s.track_id for s in self._sources.values()})
                    self.ready.set()
                elif isinstance(message, LiveOver):
                    self.live_over = True
                    return
        except (ChannelClosed, BadMessage) as exc:
            log.info("relay link to origin closed live=%s: %s", self.media.live_id, exc)
        finally:
            if self.media.channel is self.channel:
                self.media.channel = None
            await self.channel.close(flush=0)

    def _open(self, message: SourceOpen) -> None:
        source, new = self.media.source_for(message)
        self._sources[message.key] = source
        if new:
            for wire in message.gop:
                _, frame = frame_from_wire(wire)
                source.push_frame(frame)
        if self.ready.is_set():
            self._on_sources_changed()

    def _frame(self, value: list[object]) -> None:
        try:
            key, frame = frame_from_wire(value)
        except (TypeError, ValueError):
            log.warning("relay link: ignoring a malformed frame")
            return
        source = self._sources.get(key)
        if source is not None:
            self.stats.frames_received += 1
            source.push_frame(frame)

"""The edge's end of a relay link: a local copy of a live whose publishers are on its origin.

Each participant of the origin becomes a ``RelayedParticipant`` whose ``TrackSource``\\ s are
fed from the link instead of a receiver: viewers, media workers and the GOP cache cannot tell
the difference. A source's keyframe requests go back up the link, already coalesced by the
source (once per edge). Every layer of a layered picture comes as a source of its own, and
``relay.layers`` ties them back into the participant's ``LayerSet``, so the edge's viewers
switch layers as the origin's do; a layer nothing here reads stops crossing until something
needs it (``streamer.relay.edge_feeds``). When the link drops and comes back, sources (and
their layer sets) keep their identity by track id, so attached viewers carry on from the next
keyframe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCRtpCodecParameters

from directlive.errors import NotFound
from streamer.forwarding.datagrams import UdpGso
from streamer.frames import EncodedFrame
from streamer.layers.layer_set import LayerSet
from streamer.publisher import PublisherSession
from streamer.relay.channel import ChannelClosed, RelayChannel
from streamer.relay.edge_feeds import EdgeLayerFeeds
from streamer.relay.messages import Layers, LiveOver, Ready, relay_from_wire
from streamer.relay.stats import RelayStats
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.workers.messages import (
    BadMessage,
    FeedResumed,
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
        """The origin's layer sets of this participant, rebuilt from ``relay.layers``."""
        self.untied: set[int] = set()
        """Ids of layers announced but not all opened yet, or left of a broken set: hidden
        from viewers until their set is whole."""

    @property
    def viewer_sources(self) -> list[TrackSource]:
        """As ``PublisherSession.viewer_sources``: each layer set stands as its first."""
        hidden = {id(s) for layers in self.layer_sets for s in layers.sources[1:]} | self.untied
        return [source for source in self.sources if id(source) not in hidden]

    @property
    def best_sources(self) -> list[TrackSource]:
        """One track per picture, the best layer of a layered one (recording)."""
        best = {id(layers.primary): layers.top() for layers in self.layer_sets}
        return [best.get(id(source), source) for source in self.viewer_sources]

    def codec_of(self, source: TrackSource) -> RTCRtpCodecParameters:
        return self.codecs[source.track_id]

    def tie(self, members: list[TrackSource]) -> None:
        """``members`` (in m-line order) are the layers of one picture; a set they already
        form (a link that came back) stays, so its viewers carry on."""
        layers = members[0].layers
        if layers is None or layers.sources != members:
            for source in members:
                self.untie(source)
            try:
                self.layer_sets.append(LayerSet(members))
            except ValueError as exc:
                log.warning("relayed participant=%s tracks not layered: %s", self.participant, exc)
        self.untied.difference_update(id(source) for source in members)

    def untie(self, source: TrackSource) -> None:
        """Break the set ``source`` is a layer of; its other layers hide until tied again."""
        layers = source.layers
        if layers is None or layers not in self.layer_sets:
            return
        self.layer_sets.remove(layers)
        layers.close()
        for member in layers.sources:
            member.layers = None
            self.untied.add(id(member))
        self.untied.discard(id(source))

    async def add_candidate(self, candidate: str, sdp_mid: str | None) -> None:
        raise NotFound("this participant publishes to another node", code="session_not_found")

    async def close(self) -> None:
        for layers in self.layer_sets:
            layers.close()
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
        layer_grace: float = 5.0,
    ) -> None:
        self.live_id = live_id
        self.layer_grace = layer_grace
        """Seconds a layer nothing here reads stays fed (``EdgeLayerFeeds``)."""
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
        self.layer_feeds: EdgeLayerFeeds | None = None
        """The current link's layer feeds."""

    def source_for(self, message: SourceOpen, layer: bool) -> tuple[TrackSource, bool]:
        """The source of ``message``'s track, and whether it is new (so its GOP applies);
        a new ``layer`` hides until ``tie`` makes its set whole."""
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
        participant = self._relayed(message.participant)
        if participant is None:
            participant = RelayedParticipant(message.participant)
            self.participants[message.participant] = participant
        participant.sources.append(source)
        participant.codecs[track_id] = codec_from_wire(message.codec)
        if layer:
            participant.untied.add(id(source))
        return source, True

    def tie(self, members: list[TrackSource]) -> bool:
        """``members`` (one participant's, in m-line order) are the layers of one picture;
        whether they now form its set."""
        participant = self._relayed(members[0].participant)
        if participant is None or any(s.participant != participant.participant for s in members):
            log.warning("relay link: layers of several participants, not tied")
            return False
        participant.tie(members)
        return members[0].layers is not None

    def _relayed(self, name: str) -> RelayedParticipant | None:
        """The participant ``name`` (an edge's live has relayed participants only)."""
        participant = self.participants.get(name)
        return participant if isinstance(participant, RelayedParticipant) else None

    def _ask_keyframe(self, track_id: str) -> None:
        key = self._key_of.get(track_id)
        if self.channel is not None and key is not None:
            if self.layer_feeds is not None:
                self.layer_feeds.want(key)  # a dropped layer comes back before its keyframe
            self.channel.send(to_wire(KeyframeWanted(key=key)))

    def close_source(self, source: TrackSource) -> None:
        source.close()
        self._by_track.pop(source.track_id, None)
        self._key_of.pop(source.track_id, None)
        participant = self._relayed(source.participant)
        if participant is None:
            return
        participant.untie(source)
        participant.untied.discard(id(source))
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
        self._layers_of: dict[int, tuple[int, ...]] = {}
        """By key of a layer not opened yet: the keys of its picture's layers (``Layers``)."""
        self.layer_feeds = EdgeLayerFeeds(
            lambda m: channel.send(to_wire(m)), media.layer_grace, stats
        )
        media.channel = channel
        media.layer_feeds = self.layer_feeds

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
                    self.layer_feeds.forget(message.key)
                    if source is not None:
                        self.media.close_source(source)
                        self._on_sources_changed()
                elif isinstance(message, FeedResumed):
                    self.layer_feeds.resumed(message.key, message.epoch, _frames(message.gop))
                elif isinstance(message, Layers):
                    self._layers_of.update(dict.fromkeys(message.keys, message.keys))
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
            self.layer_feeds.close()
            if self.media.channel is self.channel:
                self.media.channel = None
                self.media.layer_feeds = None
            await self.channel.close(flush=0)

    def _open(self, message: SourceOpen) -> None:
        group = self._layers_of.pop(message.key, None)
        source, new = self.media.source_for(message, layer=group is not None)
        self._sources[message.key] = source
        if new:
            for wire in message.gop:
                _, frame = frame_from_wire(wire)
                source.push_frame(frame)
        if group is not None:
            if any(key in self._layers_of for key in group):
                return  # the picture shows once all its layers are here
            members = [self._sources.get(key) for key in group]
            if any(member is None for member in members):
                log.warning("relay link: layers %s of unknown sources", group)
                return
            if self.media.tie([member for member in members if member is not None]):
                for key in group:
                    self.layer_feeds.add(key, self._sources[key])
        if self.ready.is_set():
            self._on_sources_changed()

    def _frame(self, value: list[object]) -> None:
        try:
            key, frame = frame_from_wire(value)
        except (TypeError, ValueError):
            log.warning("relay link: ignoring a malformed frame")
            return
        source = self._sources.get(key)
        if source is not None and self.layer_feeds.takes(key):
            self.stats.frames_received += 1
            source.push_frame(frame)


def _frames(wires: list[list[object]]) -> list[EncodedFrame]:
    try:
        return [frame_from_wire(wire)[1] for wire in wires]
    except (TypeError, ValueError) as exc:
        raise BadMessage("a malformed frame in a GOP") from exc

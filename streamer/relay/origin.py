"""The origin's end of a relay link: feeds every source of one live to one edge node.

It is a media worker's feed over the network: each source (every layer of a layered picture
too, announced with ``relay.layers``) gets a ``RelayFeed`` (a ``FrameSink``) that sends its GOP
once, then every frame, once per link whatever the number of viewers on the edge. Keyframe
requests from the edge reach the source (the layer they name), which coalesces them with every
other viewer's. A layer nothing on the edge reads is paused (``FeedUnwanted``) until the edge
wants it again (``FeedWanted``, answered with ``FeedResumed`` and the layer's GOP:
``streamer.relay.edge_feeds``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence

from streamer.feed_gate import KeyframeGate
from streamer.frames import EncodedFrame
from streamer.layers.layer_set import LayerSet
from streamer.relay.channel import ChannelClosed, RelayChannel
from streamer.relay.messages import Layers, LiveOver, Ready, relay_from_wire, relay_to_wire
from streamer.relay.stats import RelayStats
from streamer.source import TrackSource
from streamer.viewer import SourceWithCodec
from streamer.workers.messages import (
    BadMessage,
    FeedResumed,
    FeedUnwanted,
    FeedWanted,
    KeyframeWanted,
    SourceClose,
    SourceOpen,
    codec_to_wire,
    frame_to_wire,
    to_wire,
)

log = logging.getLogger("directlive.streamer")

LINK_BACKLOG_LIMIT = 16 * 1024 * 1024
"""Bytes queued on a link before its video feeds drop to the next keyframe (a GOP sent when
the link opens can be a few MB by itself)."""


class RelayFeed:
    """Sends one source's frames on one link."""

    def __init__(self, link: OriginLink, key: int, source: TrackSource) -> None:
        self.link = link
        self.key = key
        self.source = source
        self._gate = KeyframeGate(source)
        self.paused = False
        """Whether the edge dropped this layer (``FeedUnwanted``): its frames are not sent."""
        self._awaiting_keyframe = False
        """Resumed without a GOP: the edge's copy starts at the source's next keyframe."""

    def frame(self, frame: EncodedFrame) -> None:
        channel = self.link.channel
        stats = self.link.stats
        if self.paused or (self._awaiting_keyframe and not frame.keyframe):
            stats.frames_held_back += 1
            return
        self._awaiting_keyframe = False
        if not self._gate.admit(frame, behind=channel.backlog > LINK_BACKLOG_LIMIT):
            stats.frames_dropped += 1
            return
        if channel.send(frame_to_wire(self.key, frame)):
            stats.frames_sent += 1

    def source_closed(self) -> None:
        self.link.feed_closed(self)

    def resume(self, epoch: int) -> None:
        """Send the source's GOP, then every frame again (the edge's ``FeedWanted``)."""
        gop = self.source.gop
        self._gate = KeyframeGate(self.source)
        wire = [frame_to_wire(self.key, frame) for frame in gop]
        self.link.channel.send(to_wire(FeedResumed(key=self.key, epoch=epoch, gop=wire)))
        self.paused = False
        self._awaiting_keyframe = self.source.kind == "video" and not gop
        if self._awaiting_keyframe:
            self.source.request_keyframe()


class OriginLink:
    """One edge's link to one live on this node."""

    def __init__(
        self,
        *,
        live_id: str,
        edge_node: str,
        channel: RelayChannel,
        stats: RelayStats,
        on_closed: Callable[[OriginLink], None],
    ) -> None:
        self.live_id = live_id
        self.edge_node = edge_node
        self.channel = channel
        self.stats = stats
        self._on_closed = on_closed
        self._feeds: dict[int, RelayFeed] = {}
        self._keys = itertools.count(1)
        self._closed = False

    @property
    def feed_count(self) -> int:
        return len(self._feeds)

    def sync(
        self,
        sources: Sequence[SourceWithCodec],
        layer_sets: Sequence[LayerSet] = (),
        host: str | None = None,
    ) -> None:
        """Feed every source of ``sources`` not fed yet (a guest who came on), first telling
        which of them are the layers of one picture (``layer_sets``); with ``host``, tell the
        edge the first set is complete."""
        fed = {id(feed.source) for feed in self._feeds.values()}
        new = [(s, codec) for s, codec in sources if id(s) not in fed and not s.closed]
        keys = {id(source): next(self._keys) for source, _ in new}
        for layers in layer_sets:
            if all(id(source) in keys for source in layers.sources):
                self.channel.send(relay_to_wire(Layers(tuple(keys[id(s)] for s in layers.sources))))
        for source, codec in new:
            feed = RelayFeed(self, keys[id(source)], source)
            self.channel.send(
                to_wire(
                    SourceOpen(
                        key=feed.key,
                        track_id=source.track_id,
                        participant=source.participant,
                        kind=source.kind,
                        mime_type=source.mime_type,
                        codec=codec_to_wire(codec),
                        gop=[frame_to_wire(feed.key, frame) for frame in source.gop],
                    )
                )
            )
            source.add_sink(feed)  # same loop turn as the GOP: no frame comes in between
            self._feeds[feed.key] = feed
        if host is not None:
            self.channel.send(relay_to_wire(Ready(host)))

    def feed_closed(self, feed: RelayFeed) -> None:
        if self._feeds.pop(feed.key, None) is not None:
            self.channel.send(to_wire(SourceClose(key=feed.key)))

    async def run(self) -> None:
        """Serve the edge's keyframe requests until the link closes."""
        try:
            while True:
                message = relay_from_wire(await self.channel.receive())
                if not isinstance(message, KeyframeWanted | FeedUnwanted | FeedWanted):
                    continue
                feed = self._feeds.get(message.key)
                if feed is None:
                    continue
                if isinstance(message, KeyframeWanted):
                    feed.source.request_keyframe()
                elif feed.source.layers is None:
                    continue  # only a layer pauses
                elif isinstance(message, FeedUnwanted):
                    feed.paused = True
                else:
                    feed.resume(message.epoch)
        except (ChannelClosed, BadMessage) as exc:
            log.info("relay link closed live=%s edge=%s: %s", self.live_id, self.edge_node, exc)
        finally:
            await self.close()

    async def end(self) -> None:
        """The live is over here: tell the edge, then close."""
        self.channel.send(relay_to_wire(LiveOver()))
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for feed in list(self._feeds.values()):
            feed.source.remove_sink(feed)
        self._feeds.clear()
        await self.channel.close()
        self._on_closed(self)

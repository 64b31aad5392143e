"""Which layers of its layered pictures an edge takes from its link, as the edge decides it.

The link carries a layer only while something on the edge reads it: a viewer track of the
edge's main process on it or moving to it (``LayerSet.held``), or a media worker's feed of it
that the worker has not paused (``streamer.workers.layer_feeds``). A layer nobody has read for
``grace`` seconds is dropped with ``FeedUnwanted`` (the edge's copy forgets its GOP, which goes
stale); whatever needs it again asks it for a keyframe (a viewer starting on it finds no GOP,
a switch asks its target, a worker's resumed feed without a GOP asks), and that ask sends
``FeedWanted`` before the keyframe request: the origin answers ``FeedResumed`` with the layer's
GOP and its frames follow, the keyframe asked for among them. As between a node and its
workers, each ask carries an ``epoch``, and frames of a dropped layer still on the way are
ignored until the answer to the latest ask comes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from streamer.frames import EncodedFrame
from streamer.relay.stats import RelayStats
from streamer.source import TrackSource
from streamer.workers.feeds import SourceFeed
from streamer.workers.messages import FeedUnwanted, FeedWanted, Message

CHECK_INTERVAL = 1.0
"""Seconds between two looks at which layers are read."""


class _LayerFeed:
    def __init__(self, source: TrackSource) -> None:
        self.source = source
        self.fed = True
        self.epoch = 0
        self.asked: int | None = None
        """The epoch of the ``FeedWanted`` not answered yet, if any."""
        self.unread_since: float | None = None


def read_here(source: TrackSource) -> bool:
    """Whether a viewer or a media worker of this node reads ``source`` now."""
    layers = source.layers
    if source.viewer_count or (layers is not None and layers.held(source)):
        return True
    return any(not (isinstance(sink, SourceFeed) and sink.paused) for sink in source.sinks)


class EdgeLayerFeeds:
    """The layers one link feeds this edge, by the link's keys; sends with ``send``."""

    def __init__(self, send: Callable[[Message], object], grace: float, stats: RelayStats) -> None:
        self._send = send
        self._grace = grace
        self._stats = stats
        self._feeds: dict[int, _LayerFeed] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, key: int, source: TrackSource) -> None:
        """``source`` is a layer of a layered picture (fed now)."""
        if key not in self._feeds:
            self._feeds[key] = _LayerFeed(source)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(CHECK_INTERVAL, self._check)

    def forget(self, key: int) -> None:
        self._feeds.pop(key, None)

    def takes(self, key: int) -> bool:
        """Whether a frame of ``key`` is for the edge's copy (not a dropped layer's)."""
        feed = self._feeds.get(key)
        return feed is None or feed.fed

    def want(self, key: int) -> None:
        """Something needs the layer ``key`` again: ask the origin for it (once per drop)."""
        feed = self._feeds.get(key)
        if feed is None or feed.fed or feed.asked is not None:
            return
        feed.epoch += 1
        feed.asked = feed.epoch
        feed.unread_since = None
        self._send(FeedWanted(key=key, epoch=feed.epoch))

    def resumed(self, key: int, epoch: int, gop: list[EncodedFrame]) -> None:
        """The origin's answer to ``FeedWanted``: frames follow from ``gop`` on."""
        feed = self._feeds.get(key)
        if feed is None or feed.asked != epoch:
            return  # an answer to an ask given up since
        feed.asked = None
        feed.fed = True
        feed.source.restart(gop)
        if feed.source.layers is not None:
            feed.source.layers.measure(feed.source)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._feeds.clear()

    def _check(self) -> None:
        now = time.monotonic()
        for key, feed in list(self._feeds.items()):
            if feed.source.closed:
                del self._feeds[key]
            elif not feed.fed or read_here(feed.source):
                feed.unread_since = None
            elif feed.unread_since is None:
                feed.unread_since = now
            elif now - feed.unread_since >= self._grace:
                feed.fed = False
                feed.unread_since = None
                self._stats.layers_dropped += 1
                feed.source.restart([])
                self._send(FeedUnwanted(key=key))
        self._timer = asyncio.get_running_loop().call_later(CHECK_INTERVAL, self._check)

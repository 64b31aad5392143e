"""Which layers of a layered picture a media worker is fed, as the worker decides it.

A worker takes a layer's frames only while one of its viewer tracks is on that layer or
moving to it (``LayerSet.hold``): a layer nobody there watches costs the main process
nothing to send and the worker nothing to read. A layer every holder left stays fed for
``UNWANTED_GRACE`` seconds (a failed probe up comes back to the layer it left; one nobody
held yet, ``FIRST_GRACE``), then the worker says ``FeedUnwanted`` and forgets the copy's
GOP, which goes stale. When a viewer wants it again the worker says ``FeedWanted``; the
main process answers ``FeedResumed`` with the layer's GOP, so a joiner starts at once and a
switch there waits only for the keyframe it asked for, as always. Each ask carries an
``epoch``: an answer to an older ask (the feed was dropped again in between) is ignored,
and so are frames until the answer to the latest one comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from streamer.frames import EncodedFrame
from streamer.layers.layer_set import LayerSet
from streamer.source import TrackSource
from streamer.workers.messages import FeedUnwanted, FeedWanted
from streamer.workers.wire import WireProtocol

log = logging.getLogger("directlive.streamer.worker")

UNWANTED_GRACE = 5.0
"""Seconds a layer nobody holds any more stays fed (longer than a probe up takes to fail)."""
FIRST_GRACE = 0.5
"""Seconds a layer nobody has held yet stays fed (the new viewers' own layers are held
before this runs out)."""
READY_TIMEOUT = 2.0
"""Seconds a new viewer waits for the layer it starts on to be fed again; after that it
starts anyway and waits for that layer's next keyframe."""


class _LayerFeed:
    """One layer's feed to this worker."""

    def __init__(self, key: int, source: TrackSource, layers: LayerSet) -> None:
        self.key = key
        self.source = source
        self.layers = layers
        self.fed = True
        """Whether frames of this layer are taken (the main process sends them)."""
        self.epoch = 0
        self.asked: int | None = None
        """The epoch of the ``FeedWanted`` not answered yet, if any."""
        self.unwanted: asyncio.TimerHandle | None = None
        self.ever_held = False
        self.ready: list[asyncio.Future[None]] = []
        """New viewers waiting for the layer to be fed again."""


class LayerFeeds:
    """The layers of this worker's layer sets, fed or not, by feed key."""

    def __init__(self, wire: WireProtocol) -> None:
        self._wire = wire
        self._by_key: dict[int, _LayerFeed] = {}
        self._by_source: dict[int, _LayerFeed] = {}
        self.pauses = 0
        """``FeedUnwanted`` said, over this worker's life."""
        self.resumes = 0
        """``FeedResumed`` taken."""

    def add(self, layers: LayerSet, keys: Iterable[int]) -> None:
        """Control the feeds of ``layers``' sources (``keys`` in the same order); each is
        fed now, and one nobody holds stops after the grace."""
        layers.on_demand = self._demand
        for key, source in zip(keys, layers.sources, strict=True):
            if key in self._by_key:
                continue
            feed = _LayerFeed(key, source, layers)
            self._by_key[key] = feed
            self._by_source[id(source)] = feed
            if not layers.held(source):
                self._unwanted_soon(feed)

    def takes(self, key: int) -> bool:
        """Whether a frame of the source ``key`` is for this worker's copy."""
        feed = self._by_key.get(key)
        return feed is None or feed.fed

    def fed(self, source: TrackSource) -> bool:
        feed = self._by_source.get(id(source))
        return feed is None or feed.fed

    @contextlib.asynccontextmanager
    async def holding(self, layers: LayerSet, source: TrackSource) -> AsyncIterator[None]:
        """Hold ``source`` while the block runs, the block starting once it is fed (or
        after ``READY_TIMEOUT``): a new viewer starts on it from its GOP."""
        layers.hold(source)
        try:
            feed = self._by_source.get(id(source))
            if feed is not None and not feed.fed:
                waiter = asyncio.get_running_loop().create_future()
                feed.ready.append(waiter)
                try:
                    await asyncio.wait_for(waiter, READY_TIMEOUT)
                except TimeoutError:
                    log.warning("layer %d was not fed again in time", feed.key)
                finally:
                    if waiter in feed.ready:
                        feed.ready.remove(waiter)
            yield
        finally:
            layers.let_go(source)

    def resumed(self, key: int, epoch: int, gop: list[EncodedFrame]) -> None:
        """The main process's answer to ``FeedWanted``: frames follow from ``gop`` on."""
        feed = self._by_key.get(key)
        if feed is None or feed.asked != epoch:
            return  # an answer to an ask given up since
        feed.asked = None
        feed.fed = True
        self.resumes += 1
        feed.source.restart(gop)
        feed.layers.measure(feed.source)
        for waiter in feed.ready:
            if not waiter.done():
                waiter.set_result(None)

    def forget(self, key: int) -> None:
        """The source ``key`` closed."""
        feed = self._by_key.pop(key, None)
        if feed is None:
            return
        self._by_source.pop(id(feed.source), None)
        if feed.unwanted is not None:
            feed.unwanted.cancel()
        for waiter in feed.ready:
            if not waiter.done():
                waiter.set_result(None)

    def _demand(self, source: TrackSource, wanted: bool) -> None:
        feed = self._by_source.get(id(source))
        if feed is None:
            return
        if not wanted:
            self._unwanted_soon(feed)
            return
        feed.ever_held = True
        if feed.unwanted is not None:
            feed.unwanted.cancel()
            feed.unwanted = None
        if feed.fed or feed.asked is not None:
            return
        feed.epoch += 1
        feed.asked = feed.epoch
        self._wire.send(FeedWanted(key=feed.key, epoch=feed.epoch))

    def _unwanted_soon(self, feed: _LayerFeed) -> None:
        if feed.unwanted is None:
            grace = UNWANTED_GRACE if feed.ever_held else FIRST_GRACE
            feed.unwanted = asyncio.get_running_loop().call_later(grace, self._unwanted, feed)

    def _unwanted(self, feed: _LayerFeed) -> None:
        feed.unwanted = None
        if self._by_key.get(feed.key) is not feed or feed.layers.held(feed.source):
            return
        if not feed.fed and feed.asked is None:
            return
        feed.fed = False
        feed.asked = None
        self.pauses += 1
        feed.source.restart([])
        self._wire.send(FeedUnwanted(key=feed.key))

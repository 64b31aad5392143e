"""One participant's video layers, ranked by the picture size their keyframes carry."""

from __future__ import annotations

import time
from collections.abc import Callable

from streamer.bitstream import coded_size
from streamer.frames import EncodedFrame
from streamer.source import TrackSource

RATE_WINDOW = 1.0
"""Seconds over which a layer's bitrate is measured."""

DemandHook = Callable[[TrackSource, bool], None]
"""Called with a layer when its first holder comes (True) or its last one goes (False)."""


class LayerSet:
    """The video tracks of one participant that show the same picture at several sizes.

    Ranked lowest first: by coded pixels once every layer has sent a keyframe, before that by
    m-line order, the first m-line being the top (docs/protocol.md, "Layered publishing").
    The first m-line's source stands for the set wherever one video track of the participant
    is listed (``MediaLive.sources``).
    """

    def __init__(self, sources: list[TrackSource]) -> None:
        if len(sources) < 2:
            raise ValueError("a layer set has at least two layers")
        if len({source.mime_type.lower() for source in sources}) > 1:
            raise ValueError("the layers of one picture must share a codec")
        self._sources = list(sources)
        self._sizes: dict[int, tuple[int, int]] = {}
        self._samples: dict[int, tuple[float, int, float]] = {}
        """By source id: (time, bytes received then, bits per second measured up to then)."""
        self._holders: dict[int, int] = {}
        """By source id: viewer tracks on that layer or moving to it (``hold``)."""
        self.on_demand: DemandHook | None = None
        """Told when a layer starts or stops being held (a media worker's feeds)."""
        for source in self._sources:
            source.layers = self
            source.watch_keyframes(self._keyframe)
            self.measure(source)  # a worker's copy starts with its GOP already in

    def measure(self, source: TrackSource) -> None:
        """Take ``source``'s size from the keyframe its GOP starts with, if any."""
        gop = source.gop[:1]
        if gop and gop[0].keyframe:
            self._keyframe(source, gop[0])

    def hold(self, source: TrackSource) -> None:
        """A viewer track is on ``source`` or moving to it (until ``let_go``)."""
        count = self._holders.get(id(source), 0) + 1
        self._holders[id(source)] = count
        if count == 1 and self.on_demand is not None:
            self.on_demand(source, True)

    def let_go(self, source: TrackSource) -> None:
        count = self._holders.get(id(source), 0) - 1
        if count > 0:
            self._holders[id(source)] = count
            return
        if self._holders.pop(id(source), None) is not None and self.on_demand is not None:
            self.on_demand(source, False)

    def held(self, source: TrackSource) -> bool:
        """Whether a viewer track is on ``source`` or moving to it."""
        return id(source) in self._holders

    def _keyframe(self, source: TrackSource, frame: EncodedFrame) -> None:
        size = coded_size(source.mime_type, frame.data)
        if size is not None:
            self._sizes[id(source)] = size

    @property
    def primary(self) -> TrackSource:
        """The source listed for the whole set (the first m-line)."""
        return self._sources[0]

    @property
    def sources(self) -> list[TrackSource]:
        """In m-line order."""
        return list(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def ranked(self) -> list[TrackSource]:
        """The layers, lowest first."""
        if len(self._sizes) == len(self._sources):
            order = {id(source): index for index, source in enumerate(self._sources)}

            def pixels(source: TrackSource) -> tuple[int, int]:
                width, height = self._sizes[id(source)]
                return width * height, -order[id(source)]

            return sorted(self._sources, key=pixels)
        return self._sources[::-1]

    def top(self) -> TrackSource:
        """The best layer (what recording and relays take)."""
        return self.ranked()[-1]

    def rank_of(self, source: TrackSource) -> int:
        return self.ranked().index(source)

    def size_of(self, source: TrackSource) -> tuple[int, int] | None:
        """The coded (width, height) of ``source``'s latest keyframe, if any came yet."""
        return self._sizes.get(id(source))

    def bitrate(self, source: TrackSource, now: float | None = None) -> float:
        """Bits per second ``source`` received lately (0 until measured)."""
        now = time.monotonic() if now is None else now
        sample = self._samples.get(id(source))
        if sample is None:
            self._samples[id(source)] = (now, source.bytes_received, 0.0)
            return 0.0
        since, received, rate = sample
        if now - since >= RATE_WINDOW:
            rate = (source.bytes_received - received) * 8 / (now - since)
            self._samples[id(source)] = (now, source.bytes_received, rate)
        return rate

    def close(self) -> None:
        for source in self._sources:
            source.unwatch_keyframes(self._keyframe)

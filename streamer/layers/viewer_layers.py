"""One viewer's layer of one layered participant: its switch, its selector, its feedback."""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiortc import RTCRtpSender

from streamer.aiortc.feedback import observe_loss
from streamer.layers.layer_set import LayerSet
from streamer.layers.selector import LayerSelector, LinkReport
from streamer.layers.switch import LayerSwitch
from streamer.source import TrackSource
from streamer.stats import LAYER_GAUGES, ForwardingStats
from streamer.viewer_track import ViewerTrack


def count_layer_viewers(stats: ForwardingStats, choices: Iterable[ViewerLayers]) -> None:
    """Set the ``viewers_on_layer_*`` gauges of ``stats`` from every viewer's layer now."""
    counts = [0] * len(LAYER_GAUGES)
    for choice in choices:
        counts[min(choice.rank, len(counts) - 1)] += 1
    for name, count in zip(LAYER_GAUGES, counts, strict=True):
        setattr(stats, name, count)


def starting_layer(layers: LayerSet, cap: int | None) -> TrackSource:
    """The layer a new viewer starts on: the highest its cap allows (None: the top)."""
    ranked = layers.ranked()
    rank = len(ranked) - 1 if cap is None else max(0, min(cap, len(ranked) - 1))
    return ranked[rank]


class ViewerLayers:
    """Keeps one viewer track on the layer its link carries, never above its cap."""

    def __init__(
        self,
        layers: LayerSet,
        track: ViewerTrack,
        current: TrackSource,
        stats: ForwardingStats,
        cap: int | None = None,
    ) -> None:
        self.layers = layers
        self.switch = LayerSwitch(layers, track, current, stats, self._switched)
        self.selector = LayerSelector(len(layers), layers.rank_of(current), cap)

    @property
    def rank(self) -> int:
        """0 for the lowest layer."""
        return self.switch.rank

    @property
    def current(self) -> TrackSource:
        return self.switch.current

    def watch_feedback(self, sender: RTCRtpSender) -> None:
        """Choose layers from the receiver reports ``sender`` gets."""
        observe_loss(sender, self.on_loss)

    def on_loss(self, fraction_lost: float) -> None:
        self._move(self.selector.decide(LinkReport(fraction_lost), time.monotonic()))

    def limit(self, cap: int | None) -> None:
        """Never above ``cap`` from now on (None: no cap)."""
        self._move(self.selector.limit(cap, time.monotonic()))

    def _move(self, rank: int | None) -> None:
        if rank is None:
            return
        ranked = self.layers.ranked()
        target = ranked[min(rank, len(ranked) - 1)]
        if target is self.switch.current:
            self.selector.switched(rank, time.monotonic())
            self.switch.request(target)  # cancels a pending move
            return
        self.switch.request(target)

    def _switched(self, old_rank: int, new_rank: int) -> None:
        self.selector.switched(new_rank, time.monotonic())

    def close(self) -> None:
        self.switch.close()

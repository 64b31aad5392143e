"""One viewer's layer of one layered participant: its switch, its selector, its feedback."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from aiortc import RTCRtpSender

from streamer.aiortc.feedback import observe_loss
from streamer.layers.layer_set import LayerSet
from streamer.layers.selector import LayerSelector, LinkReport
from streamer.layers.switch import SEQUENCE_GAP, LayerSwitch
from streamer.source import TrackSource
from streamer.stats import LAYER_GAUGES, ForwardingStats
from streamer.viewer_track import ViewerTrack

log = logging.getLogger("directlive.streamer")


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
        self._nacked: set[int] = set()
        """Sequence numbers NACKed since the last receiver report."""
        self._sent_before = 0
        self._gap_unreported = 0
        """Sequence numbers a switch left out that no receiver report has counted yet."""

    @property
    def participant(self) -> str:
        """Whose picture this is."""
        return self.layers.primary.participant

    @property
    def rank(self) -> int:
        """0 for the lowest layer."""
        return self.switch.rank

    @property
    def current(self) -> TrackSource:
        return self.switch.current

    def watch_feedback(self, sender: RTCRtpSender) -> None:
        """Choose layers from the receiver reports ``sender`` gets."""
        observe_loss(sender, self.on_report, self.on_nack)

    def on_report(self, fraction_lost: float, packets_sent: int) -> None:
        """A receiver report: the loss is the larger of what it says (less a switch's
        sequence gap, which it counts as lost) and the share of the packets sent since the
        previous one that NACKs asked for."""
        sent, self._sent_before = packets_sent - self._sent_before, packets_sent
        gap, self._gap_unreported = self._gap_unreported, 0
        if gap and sent > 0:
            fraction_lost = max(0.0, fraction_lost * (sent + gap) - gap) / sent
        nacked = len(self._nacked) / sent if sent > 0 else 0.0
        self._nacked.clear()
        lost = max(fraction_lost, min(1.0, nacked))
        log.debug(
            "layer report track=%s rank=%d lost=%.3f nacked=%.3f sent=%d",
            self.switch.track.id, self.rank, fraction_lost, nacked, sent,
        )  # fmt: skip
        self._move(self.selector.decide(LinkReport(lost), time.monotonic()))

    def on_nack(self, sequence_numbers: list[int]) -> None:
        skipped = self.switch.track.skipped
        if skipped is not None:
            first, count = skipped
            sequence_numbers = [n for n in sequence_numbers if (n - first) & 0xFFFF >= count]
        new = [n for n in sequence_numbers if n not in self._nacked]
        self._nacked.update(new)
        if new:
            self._move(self.selector.nacked(len(new), time.monotonic()))

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
        self._gap_unreported += SEQUENCE_GAP
        log.info("layer switch track=%s from=%d to=%d", self.switch.track.id, old_rank, new_rank)
        self.selector.switched(new_rank, time.monotonic())

    def close(self) -> None:
        self.switch.close()

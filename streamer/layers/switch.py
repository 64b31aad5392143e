"""Moves one viewer's track between the layers of a participant, at keyframes only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from streamer.frames import VIDEO_CLOCK_RATE, EncodedFrame
from streamer.layers.layer_set import LayerSet
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.viewer_track import ViewerTrack

SEQUENCE_GAP = 600
"""Sequence numbers left out at a switch: more than a receiver's jitter buffer holds
(aiortc's holds 512 video packets and waits for a lost one until it overflows), so one
waiting for a lost packet of the old layer drops it and starts on the new layer's keyframe
at once; fewer than Chromium's NACK list keeps (1000)."""
DRAIN = 0.25
"""Seconds between stopping the layer a viewer leaves for a lower one and asking the lower
one for its keyframe: the link's queue, full of what it could not carry, empties first, so
the keyframe is not cut there (a cut keyframe leaves the viewer nothing to decode until
the next one)."""


class LayerSwitch:
    """One viewer track and the layer feeding it.

    ``request(target)`` asks the target layer for a keyframe (coalesced and rate-limited by
    the source, as any keyframe request) and, when it comes, moves the track there before the
    keyframe is offered to anyone: the old layer stops feeding it (a lane member leaves the
    lane, so its forwarder keeps counting sequence numbers), and its timestamp offset is
    re-based so the keyframe follows the last frame it was sent by the time that passed
    between them. SSRC and sequence numbers are the viewer's sender's own, so the viewer
    sees one continuous track; the VP8 picture id jumps at that keyframe, which decoders
    accept (a keyframe references nothing). The sequence numbers jump too, by
    ``SEQUENCE_GAP``, so a receiver stuck on a packet the old layer lost moves on.

    The switch ``hold``s the layer it is on and the one it moves to in the ``LayerSet``
    (a media worker is fed only the layers held there).
    """

    def __init__(
        self,
        layers: LayerSet,
        track: ViewerTrack,
        current: TrackSource,
        stats: ForwardingStats,
        on_switched: Callable[[int, int], None] | None = None,
    ) -> None:
        self.layers = layers
        self.track = track
        self.current = current
        self.pending: TrackSource | None = None
        self._stats = stats
        self._on_switched = on_switched
        """Called with (old rank, new rank) once a switch is done."""
        self.switches_up = 0
        self.switches_down = 0
        self._released = False
        """Whether the current layer stopped feeding the track ahead of a move down."""
        self._drain: asyncio.TimerHandle | None = None
        layers.hold(current)

    @property
    def rank(self) -> int:
        return self.layers.rank_of(self.current)

    def request(self, target: TrackSource) -> None:
        """Move to ``target`` at its next keyframe (cancels a pending move elsewhere). Moving
        down, the current layer stops feeding the track at once: its frames are what the
        link could not carry, and would only be lost (and their loss stall the receiver)."""
        if target is self.pending:
            return
        self._cancel()
        if target is self.current or target.closed:
            self._resume()
            return
        self.pending = target
        self.layers.hold(target)
        if self.layers.rank_of(target) < self.layers.rank_of(self.current):
            if not self._released:
                self.current.release(self.track)
                self._released = True
            self._drain = asyncio.get_running_loop().call_later(DRAIN, self._ask, target)
        else:
            self._ask(target)

    def _ask(self, target: TrackSource) -> None:
        self._drain = None
        target.watch_keyframes(self._at_keyframe)
        self._stats.layer_switch_keyframe_requests += 1
        target.request_keyframe()

    def _resume(self) -> None:
        if self._released:
            self._released = False
            self.current.adopt(self.track)

    def _cancel(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.unwatch_keyframes(self._at_keyframe)
            self.layers.let_go(pending)

    def _at_keyframe(self, source: TrackSource, frame: EncodedFrame) -> None:
        if source is not self.pending:
            source.unwatch_keyframes(self._at_keyframe)
            return
        self.layers.hold(source)  # before the pending move lets go of it
        self._cancel()
        if self.track.readyState != "live":
            self.layers.let_go(source)
            return
        old = self.current
        old_rank, new_rank = self.layers.rank_of(old), self.layers.rank_of(source)
        last = old.last_frame
        track = self.track
        if last is not None:
            elapsed = max(1, round((frame.received_at - last.received_at) * VIDEO_CLOCK_RATE))
            sent = last.timestamp + track.timestamp_offset
            track.timestamp_offset = (sent + elapsed - frame.timestamp) & 0xFFFFFFFF
        old.release(track)
        self._released = False
        if not source.adopt(track):
            old.adopt(track)
            self.layers.let_go(source)
            return
        track.sequence_gap = SEQUENCE_GAP
        self.current = source
        self.layers.let_go(old)
        if new_rank > old_rank:
            self.switches_up += 1
            self._stats.layer_switches_up += 1
        else:
            self.switches_down += 1
            self._stats.layer_switches_down += 1
        if self._on_switched is not None:
            self._on_switched(old_rank, new_rank)

    def close(self) -> None:
        """Stop feeding the track (the viewer left)."""
        self._cancel()
        self.current.unsubscribe(self.track)
        self.layers.let_go(self.current)

"""The track one viewer's sender reads: a bounded queue of shared encoded frames."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streamer.forwarding.lane import LaneEntry, LaneMember
from streamer.frames import EncodedFrame, Outgoing
from streamer.stats import ForwardingStats


class TrackOrigin(Protocol):
    """Where a viewer track's frames come from (a ``TrackSource``)."""

    def request_keyframe(self) -> None: ...

    def lane_join(self, track: ViewerTrack, entry: LaneEntry, member: LaneMember) -> bool: ...

    def lane_leave(self, track: ViewerTrack) -> None: ...


class ViewerTrack(MediaStreamTrack):
    """Yields ``(frame, rtp_timestamp)`` to aiortc's sender, which hands it to our packer,
    or, once a listener is attached (``streamer.forwarding.forwarder``), calls it synchronously
    whenever a frame is queued and lets it ``take_ready`` the queue.

    The queue never holds more than ``queue_limit`` frames. A video viewer that falls behind
    loses its queue and waits for the next keyframe (asking the source for one); an audio
    viewer loses its oldest packet. Nothing a slow viewer does reaches the source or others.
    """

    def __init__(
        self, *, source: TrackOrigin, kind: str, stats: ForwardingStats, queue_limit: int
    ) -> None:
        super().__init__()
        self.kind = kind
        self._source = source
        self._stats = stats
        self._queue_limit = queue_limit
        self._queue: deque[Outgoing] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._listener: Callable[[], None] | None = None
        self._awaiting_keyframe = kind == "video"
        self.frames_dropped = 0
        self.timestamp_offset = 0
        """Added to each frame's timestamp: where a layer switch re-based this viewer's clock."""
        self.sequence_gap = 0
        """Sequence numbers the forwarder leaves out before its next packet (a layer switch:
        a receiver whose jitter buffer waits for a packet of the old layer that will never
        come gives up on it at once and starts on the new layer's keyframe)."""
        self.skipped: tuple[int, int] | None = None
        """(first, count) of the sequence numbers last left out, set by the forwarder."""

    def prime(self, gop: Sequence[EncodedFrame]) -> None:
        """Queue the cached GOP so the viewer decodes a picture at once.

        The GOP's frames are stamped one RTP tick apart, ending at the latest frame's own
        timestamp: the decoder gets every frame it needs, the player shows them immediately
        instead of replaying seconds of the past, and live frames follow on their own clock.
        """
        last = gop[-1].timestamp + self.timestamp_offset
        count = len(gop)
        self._queue.extend(
            (frame, (last - (count - 1 - index)) & 0xFFFFFFFF) for index, frame in enumerate(gop)
        )
        self._awaiting_keyframe = False
        self._wake()

    def offer(self, frame: EncodedFrame) -> None:
        """Called by the source for every new frame; never blocks, never grows unbounded."""
        if self.readyState != "live":
            return
        if self._awaiting_keyframe and not frame.keyframe:
            self._drop(1)
            return
        if len(self._queue) >= self._queue_limit:
            if self.kind == "video":
                self._drop(len(self._queue))
                self._queue.clear()
                if not frame.keyframe:
                    self._awaiting_keyframe = True
                    self._drop(1)
                    self._source.request_keyframe()
                    return
            else:
                self._queue.popleft()
                self._drop(1)
        self._awaiting_keyframe = False
        self._queue.append((frame, (frame.timestamp + self.timestamp_offset) & 0xFFFFFFFF))
        self._stats.frames_forwarded += 1
        self._stats.bytes_forwarded += len(frame.data)
        self._wake()

    def rebind(self, source: TrackOrigin) -> None:
        """Frames come from ``source`` from now on (a layer switch, at its keyframe)."""
        self._source = source

    def request_keyframe(self) -> None:
        """The viewer reported picture loss (PLI/FIR)."""
        self._stats.keyframe_requests_from_viewers += 1
        self._source.request_keyframe()

    def attach(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (instead of waking ``recv``) when a frame is queued or the track
        ends; it is called once at once for what is already queued."""
        self._listener = listener
        listener()

    def detach(self) -> None:
        self._listener = None

    def join_lane(self, entry: LaneEntry, member: LaneMember) -> bool:
        """Have the source's lane send frames with ``entry`` instead of queueing them here
        (then ``offer`` is not called); only with nothing queued. False when the track or
        its source has ended."""
        if self._queue or self._awaiting_keyframe or self.readyState != "live":
            return False
        return self._source.lane_join(self, entry, member)

    def leave_lane(self) -> None:
        """Frames are queued here again, from the source's next frame."""
        self._source.lane_leave(self)

    def take_ready(self) -> list[Outgoing]:
        """Everything queued, oldest first; the queue is left empty."""
        ready = list(self._queue)
        self._queue.clear()
        return ready

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def recv(self) -> Outgoing:  # type: ignore[override]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self.leave_lane()
        self._queue.clear()
        self._wake()

    def _drop(self, count: int) -> None:
        self.frames_dropped += count
        self._stats.frames_dropped_slow_viewer += count

    def _wake(self) -> None:
        listener = self._listener
        if listener is not None:
            listener()
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

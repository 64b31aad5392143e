"""One published track: receives encoded frames once and offers them to every viewer track."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from streamer.forwarding.datagrams import UdpGso
from streamer.forwarding.lane import ForwardingLane, LaneEntry, LaneMember
from streamer.frames import EncodedFrame, is_keyframe
from streamer.stats import ForwardingStats
from streamer.viewer_track import ViewerTrack

if TYPE_CHECKING:
    from streamer.layers.layer_set import LayerSet

log = logging.getLogger("directlive.streamer")

KeyframeRequester = Callable[[], None]
KeyframeWatcher = Callable[["TrackSource", EncodedFrame], None]


class FrameSink(Protocol):
    """Takes every frame of a source as it arrives (a worker process's feed)."""

    def frame(self, frame: EncodedFrame) -> None: ...

    def source_closed(self) -> None: ...


class TrackSource:
    """Fans one publisher track out to viewers, keeping the latest GOP for late joiners.

    Keyframe requests from viewers are coalesced: at most one PLI goes upstream per
    ``keyframe_interval`` seconds, and one arriving inside the interval is sent at its end.
    """

    def __init__(
        self,
        *,
        track_id: str,
        participant: str,
        kind: str,
        mime_type: str,
        stats: ForwardingStats,
        request_upstream_keyframe: KeyframeRequester | None = None,
        keyframe_interval: float = 1.0,
        gop_limit: int = 900,
        viewer_queue_limit: int = 240,
        gso: UdpGso | None = None,
    ) -> None:
        self.track_id = track_id
        self.participant = participant
        """The user publishing this track (the host or a guest)."""
        self.kind = kind
        self.mime_type = mime_type
        self._stats = stats
        self._request_upstream = request_upstream_keyframe
        self._keyframe_interval = keyframe_interval
        self._gop_limit = gop_limit
        self._viewer_queue_limit = viewer_queue_limit
        self._gop: list[EncodedFrame] = []
        self._viewers: set[ViewerTrack] = set()
        self._lane = ForwardingLane(mime_type, stats, gso or UdpGso())
        """The viewers whose frames one C call sends; ``offer`` queues frames for the rest."""
        self._sinks: list[FrameSink] = []
        self._picture_id = 0
        self._last_keyframe_request = -float("inf")
        self._pending_request: asyncio.TimerHandle | None = None
        self._closed = False
        self.layers: LayerSet | None = None
        """The participant's layers this track is one of (``streamer.layers``), or None."""
        self.last_frame: EncodedFrame | None = None
        self.bytes_received = 0
        self._keyframe_watchers: list[KeyframeWatcher] = []

    @property
    def stats(self) -> ForwardingStats:
        return self._stats

    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    @property
    def has_keyframe(self) -> bool:
        """Whether a new viewer can start at once from the cached GOP."""
        return bool(self._gop)

    @property
    def gop(self) -> list[EncodedFrame]:
        """The frames since the latest keyframe (video), what a new viewer starts from."""
        return list(self._gop)

    @property
    def closed(self) -> bool:
        return self._closed

    def push(self, data: bytes, timestamp: int) -> None:
        """Take one complete encoded frame from the publisher and offer it to every viewer."""
        if self._closed:
            return
        keyframe = is_keyframe(self.mime_type, data)
        frame = EncodedFrame(data, timestamp, keyframe, picture_id=self._picture_id)
        self._picture_id = (self._picture_id + 1) & 0x7FFF
        self._stats.frames_received += 1
        self.push_frame(frame)

    def push_frame(self, frame: EncodedFrame) -> None:
        """Offer a frame already cut and numbered (by ``push``, or by the node's main process
        for a worker's copy of the source) to every viewer and sink."""
        if self._closed:
            return
        self.last_frame = frame
        self.bytes_received += len(frame.data)
        if self.kind == "video":
            if frame.keyframe:
                for watcher in tuple(self._keyframe_watchers):
                    watcher(self, frame)
                self._gop = [frame]
            elif self._gop and len(self._gop) < self._gop_limit:
                self._gop.append(frame)
            else:
                self._gop = []
        # Lane members that fail now have been sent this frame: they are offered the next.
        lane = self._lane
        queued = self._viewers - lane.keys if lane else tuple(self._viewers)
        if lane:
            lane.send(frame)
        for viewer in queued:
            viewer.offer(frame)
        for sink in self._sinks:
            try:
                sink.frame(frame)
            except Exception:
                log.exception("a frame sink of %s failed", self.track_id)

    def restart(self, gop: list[EncodedFrame]) -> None:
        """Start over from ``gop`` (a copy whose feed skipped frames: a media worker's paused
        layer): it becomes the cached GOP, offered to no viewer or keyframe watcher."""
        video = self.kind == "video"
        self._gop = list(gop) if video and gop and gop[0].keyframe else []
        self.last_frame = gop[-1] if gop else None

    def lane_join(self, track: ViewerTrack, entry: LaneEntry, member: LaneMember) -> bool:
        if self._closed or track not in self._viewers:
            return False
        self._lane.join(track, entry, member)
        return True

    def lane_leave(self, track: ViewerTrack) -> None:
        self._lane.leave(track)

    @property
    def lane_size(self) -> int:
        """Viewers whose frames the lane sends."""
        return len(self._lane)

    def watch_keyframes(self, watcher: KeyframeWatcher) -> None:
        """Call ``watcher`` at each keyframe, before any viewer is offered it (a layer switch
        moves viewers here then)."""
        self._keyframe_watchers.append(watcher)

    def unwatch_keyframes(self, watcher: KeyframeWatcher) -> None:
        if watcher in self._keyframe_watchers:
            self._keyframe_watchers.remove(watcher)

    def adopt(self, track: ViewerTrack) -> bool:
        """Take over a viewer track another layer of the participant was feeding; it is
        offered this source's frames from the next one on (False once closed)."""
        if self._closed:
            return False
        track.rebind(self)
        self._viewers.add(track)
        return True

    def release(self, track: ViewerTrack) -> None:
        """Stop feeding ``track`` without ending it (it moves to another layer); a lane
        member leaves the lane first, so its forwarder takes its sequence numbers back."""
        self._viewers.discard(track)
        if track in self._lane:
            self._lane.release(track)

    def add_sink(self, sink: FrameSink) -> None:
        """Send ``sink`` every frame from now on; the caller sends it ``gop`` first."""
        if self._closed:
            raise RuntimeError("track source is closed")
        self._sinks.append(sink)

    @property
    def sinks(self) -> tuple[FrameSink, ...]:
        return tuple(self._sinks)

    def remove_sink(self, sink: FrameSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def subscribe(self) -> ViewerTrack:
        """A new viewer track, primed with the cached GOP so it can start at once."""
        if self._closed:
            raise RuntimeError("track source is closed")
        track = ViewerTrack(
            source=self,
            kind=self.kind,
            stats=self._stats,
            queue_limit=self._viewer_queue_limit,
        )
        if self.kind == "video":
            if self._gop:
                track.prime(self._gop)
            else:
                self.request_keyframe()
        self._viewers.add(track)
        return track

    def unsubscribe(self, track: ViewerTrack) -> None:
        self._viewers.discard(track)
        track.stop()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, coalesced and rate-limited across viewers."""
        if self._request_upstream is None or self._closed or self._pending_request is not None:
            return
        wait = self._last_keyframe_request + self._keyframe_interval - time.monotonic()
        if wait <= 0:
            self._send_keyframe_request()
        else:
            loop = asyncio.get_running_loop()
            self._pending_request = loop.call_later(wait, self._send_keyframe_request)

    def _send_keyframe_request(self) -> None:
        self._pending_request = None
        if self._request_upstream is None or self._closed:
            return
        self._last_keyframe_request = time.monotonic()
        self._stats.keyframe_requests_upstream += 1
        self._request_upstream()

    def close(self) -> None:
        """End every viewer track; the source accepts no new frames or viewers."""
        self._closed = True
        if self._pending_request is not None:
            self._pending_request.cancel()
            self._pending_request = None
        for viewer in list(self._viewers):
            viewer.stop()
        self._viewers.clear()
        self._gop = []
        sinks, self._sinks = self._sinks, []
        for sink in sinks:
            sink.source_closed()

"""The sources one media worker is fed, as the main process sends them."""

from __future__ import annotations

import itertools

from aiortc import RTCRtpCodecParameters

from directlive.errors import Unavailable
from streamer.feed_gate import KeyframeGate
from streamer.frames import EncodedFrame
from streamer.source import TrackSource
from streamer.workers.messages import (
    FeedResumed,
    SourceClose,
    SourceOpen,
    codec_to_wire,
    frame_to_wire,
)
from streamer.workers.wire import WireProtocol

FEED_BUFFER_LIMIT = 8 * 1024 * 1024
"""Bytes queued to a worker before its feeds drop video to the next keyframe (asked for)."""


class SourceFeed:
    """Sends one source's frames to one worker (a ``FrameSink`` of the source).

    A layer of a layered picture is sent only while the worker wants it (a viewer there is
    on it or moving to it): the worker says ``FeedUnwanted`` and ``FeedWanted``; the feed
    then ``pause``s, and ``resume``s with the source's GOP, so the worker's copy starts
    over from a keyframe and a viewer can start on it at once.
    """

    def __init__(self, feeds: Feeds, key: int, source: TrackSource) -> None:
        self.feeds = feeds
        self.key = key
        self.source = source
        self.readers = 0
        """Sessions on the worker that read this feed."""
        self._gate = KeyframeGate(source)
        self.frames_sent = 0
        self.frames_dropped = 0
        self.paused = False
        """Whether the worker does not want this layer now: its frames are not sent."""
        self.frames_held_back = 0
        """Frames not sent while paused."""
        self.resumes = 0
        self._awaiting_keyframe = False
        """Resumed without a GOP: the worker's copy starts at the source's next keyframe."""

    def frame(self, frame: EncodedFrame) -> None:
        if self.paused or (self._awaiting_keyframe and not frame.keyframe):
            self.frames_held_back += 1
            return
        self._awaiting_keyframe = False
        wire = self.feeds.wire
        if not self._gate.admit(frame, behind=wire.write_buffer_size > FEED_BUFFER_LIMIT):
            self.frames_dropped += 1
            return
        if wire.send_frame(frame_to_wire(self.key, frame)):
            self.frames_sent += 1

    def source_closed(self) -> None:
        self.feeds.drop(self)

    def pause(self) -> None:
        """Send no frame until ``resume``."""
        self.paused = True

    def resume(self, epoch: int) -> None:
        """Send the source's GOP, then every frame again (``FeedWanted`` of ``epoch``)."""
        gop = self.source.gop
        self._gate = KeyframeGate(self.source)
        if self.feeds.wire.send(
            FeedResumed(key=self.key, epoch=epoch, gop=[frame_to_wire(self.key, f) for f in gop])
        ):
            self.resumes += 1
        self.paused = False
        self._awaiting_keyframe = self.source.kind == "video" and not gop
        if self._awaiting_keyframe:
            self.source.request_keyframe()


class Feeds:
    """The sources fed to one worker, each once whatever number of its sessions read it."""

    def __init__(self, wire: WireProtocol) -> None:
        self.wire = wire
        self._by_key: dict[int, SourceFeed] = {}
        self._by_source: dict[int, SourceFeed] = {}
        self._keys = itertools.count(1)

    def all(self) -> list[SourceFeed]:
        return list(self._by_key.values())

    def get(self, key: int) -> SourceFeed | None:
        return self._by_key.get(key)

    def open(self, source: TrackSource, codec: RTCRtpCodecParameters) -> SourceFeed:
        """The feed of ``source`` to this worker, started (with the source's GOP) if new;
        a session that reads it counts itself in ``readers``."""
        feed = self._by_source.get(id(source))
        if feed is None or feed.source is not source:
            if source.closed:
                raise Unavailable("the track ended", code="live_not_found")
            feed = SourceFeed(self, next(self._keys), source)
            self.wire.send(
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
            source.add_sink(feed)  # no frame can come between the GOP and this: same loop turn
            self._by_key[feed.key] = feed
            self._by_source[id(source)] = feed
        return feed

    def release(self, feed: SourceFeed) -> None:
        """One reader fewer; the feed stops when no session on the worker reads it."""
        feed.readers -= 1
        if feed.readers > 0:
            return
        feed.source.remove_sink(feed)
        self.drop(feed)

    def drop(self, feed: SourceFeed) -> None:
        if self._by_key.pop(feed.key, None) is None:
            return
        if self._by_source.get(id(feed.source)) is feed:
            del self._by_source[id(feed.source)]
        self.wire.send(SourceClose(key=feed.key))

    def detach_all(self) -> None:
        for feed in list(self._by_key.values()):
            feed.source.remove_sink(feed)
        self._by_key.clear()
        self._by_source.clear()

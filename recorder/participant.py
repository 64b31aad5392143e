"""One participant's tracks recorded into one file, from the same encoded feed viewers get.

Each track is read through its own ``ViewerTrack`` (bounded; video starts at a keyframe). The
file's header waits for the first video keyframe, which gives the picture size (and H.264's
SPS/PPS). Timestamps are the frames' own RTP timestamps (``frame.timestamp``, from the track's
first frame), so gaps stay gaps; tracks are placed against each other by the monotonic time
their first frame reached the server (less the audio jitter buffer's fixed delay), which
puts audio and video within a few tens of milliseconds on loopback. Media from before the
first video keyframe is dropped so both start together.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiortc.mediastreams import MediaStreamError

from recorder.media_file import (
    CODEC_OF_MIME,
    MediaFile,
    TrackSpec,
    WriteFailed,
    container_format,
)
from streamer.bitstream import BitstreamError, VideoParams, h264_params, vp8_params
from streamer.frames import AUDIO_CLOCK_RATE, VIDEO_CLOCK_RATE, EncodedFrame
from streamer.source import TrackSource
from streamer.viewer_track import ViewerTrack

log = logging.getLogger("directlive.recorder")

AUDIO_PREFETCH = 4
"""aiortc's audio jitter buffer (``JitterBuffer(capacity=16, prefetch=4)`` in rtcrtpreceiver)
releases a packet only once 4 later ones have arrived, so Opus reaches the server 4 packets
after the video captured with it; the audio anchor is moved back by that much."""
AUDIO_PACKET_TICKS = 960
"""20 ms Opus packets, as WebRTC senders use."""

PENDING_LIMIT = 600
"""Frames held while the header waits for a keyframe (about 10 s of audio)."""

FailureHandler = Callable[[str], None]
"""Called once with the failure code (``disk_full``, ``write_failed``)."""


@dataclass(frozen=True)
class _Anchor:
    received_at: float
    timestamp: int


def recordable(sources: Sequence[TrackSource]) -> list[TrackSource]:
    return [s for s in sources if s.mime_type.lower() in CODEC_OF_MIME]


def _spec(source: TrackSource) -> TrackSpec:
    codec = CODEC_OF_MIME[source.mime_type.lower()]
    return TrackSpec(codec, AUDIO_CLOCK_RATE if codec == "opus" else VIDEO_CLOCK_RATE)


class ParticipantRecording:
    """Subscribes to ``sources`` and writes them to ``stem.<ext>`` until they end or fail."""

    def __init__(
        self,
        participant: str,
        sources: Sequence[TrackSource],
        stem: Path,
        *,
        cluster_ms: int,
        on_failure: FailureHandler,
    ) -> None:
        self.participant = participant
        self._sources = list(sources)
        specs = [_spec(s) for s in self._sources]
        _, extension, _ = container_format(specs)
        self.file = MediaFile(Path(f"{stem}.{extension}"), specs, cluster_ms=cluster_ms)
        self.failure: str | None = None
        self._on_failure = on_failure
        self._anchors: list[_Anchor | None] = [None] * len(self._sources)
        self._params: dict[int, VideoParams] = {}
        self._pending: deque[tuple[int, EncodedFrame]] = deque(maxlen=PENDING_LIMIT)
        self._epoch: float | None = None
        self._tracks: list[ViewerTrack] = [s.subscribe() for s in self._sources]
        self._tasks = [
            asyncio.ensure_future(self._consume(index)) for index in range(len(self._tracks))
        ]

    @property
    def video_tracks(self) -> list[int]:
        return [i for i, t in enumerate(self.file.tracks) if t.kind == "video"]

    async def _consume(self, index: int) -> None:
        track = self._tracks[index]
        try:
            while self.failure is None:
                frame, _ = await track.recv()
                self._on_frame(index, frame)
        except MediaStreamError:
            return

    def _on_frame(self, index: int, frame: EncodedFrame) -> None:
        if self._anchors[index] is None:
            if self.file.tracks[index].kind == "video" and not self._read_params(index, frame):
                return
            self._anchors[index] = self._anchor(index, frame)
        if not self.file.started:
            self._pending.append((index, frame))
            if all(i in self._params for i in self.video_tracks):
                self._start()
            return
        self._write(index, frame)

    def _anchor(self, index: int, frame: EncodedFrame) -> _Anchor:
        track = self.file.tracks[index]
        received_at = frame.received_at
        if track.kind == "audio":
            received_at -= AUDIO_PREFETCH * AUDIO_PACKET_TICKS / track.clock_rate
        return _Anchor(received_at, frame.timestamp)

    def _read_params(self, index: int, frame: EncodedFrame) -> bool:
        if not frame.keyframe:
            return False
        try:
            if self.file.tracks[index].codec == "h264":
                self._params[index] = h264_params(frame.data)
            else:
                self._params[index] = vp8_params(frame.data)
        except BitstreamError as exc:
            log.info("recording %s: waiting for a usable keyframe (%s)", self.file.path.name, exc)
            return False
        return True

    def _start(self) -> None:
        video = [a for i, a in enumerate(self._anchors) if i in self._params and a is not None]
        anchors = video or [a for a in self._anchors if a is not None]
        self._epoch = min(a.received_at for a in anchors)
        try:
            self.file.start(self._params)
        except WriteFailed as exc:
            self.fail(exc)
            return
        pending, self._pending = list(self._pending), deque()
        for index, frame in pending:
            self._write(index, frame)

    def _write(self, index: int, frame: EncodedFrame) -> None:
        anchor = self._anchors[index]
        if anchor is None or self._epoch is None or self.failure is not None:
            return
        clock = self.file.tracks[index].clock_rate
        pts = round((anchor.received_at - self._epoch) * clock) + frame.timestamp - anchor.timestamp
        if pts < 0:
            return  # before the first video keyframe
        try:
            self.file.write(index, frame.data, pts, frame.keyframe)
        except WriteFailed as exc:
            self.fail(exc)

    def fail(self, cause: BaseException | str) -> None:
        """Stop recording this participant; the file keeps what was written."""
        if self.failure is not None:
            return
        if isinstance(cause, str):
            code = cause
        else:
            code = "disk_full" if _errno_of(cause) == errno.ENOSPC else "write_failed"
        self.failure = code
        log.warning("recording %s stopped: %s (%s)", self.file.path.name, code, cause)
        self._detach()
        with contextlib.suppress(WriteFailed):
            self.file.close()
        self._on_failure(code)

    def _detach(self) -> None:
        for source, track in zip(self._sources, self._tracks, strict=True):
            source.unsubscribe(track)

    async def finish(self) -> None:
        """Stop reading, let the readers end, and write the trailer."""
        self._detach()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.failure is not None:
            return
        try:
            self.file.close()
        except WriteFailed as exc:
            self.fail(exc)


def _errno_of(error: BaseException) -> int | None:
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, OSError) and current.errno is not None:
            return current.errno
        current = current.__cause__
    return None

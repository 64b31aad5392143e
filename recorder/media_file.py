"""One recording file: encoded packets remuxed into Matroska (WebM for VP8), never transcoded.

Crash safety: the segment is written with an unknown size and every cluster holds at most
``cluster_ms`` of media and is flushed to the file as soon as it closes (``flush_packets``),
so a killed process leaves a file that plays up to its last whole cluster. Closing writes the
trailer (cues, duration). Interleaving waits at most ``interleave_ms`` for a stalled track.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from av.container import OutputContainer
from av.stream import Stream

from recorder.templates import template
from streamer.bitstream import VideoParams

Codec = Literal["vp8", "h264", "opus"]
CODEC_OF_MIME: Mapping[str, Codec] = {
    "video/vp8": "vp8",
    "video/h264": "h264",
    "audio/opus": "opus",
}


def opus_head(channels: int = 2, sample_rate: int = 48_000) -> bytes:
    """The ``OpusHead`` Matroska wants as codec private data (RFC 7845 5.1), pre-skip 0."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 0, sample_rate, 0, 0)


class WriteFailed(Exception):
    """The file could not be written (disk full, I/O error); the file is left as it is."""


@dataclass(frozen=True)
class TrackSpec:
    """One track of a recording file."""

    codec: Codec
    clock_rate: int
    """RTP clock of the track: 90 kHz video, 48 kHz Opus."""

    @property
    def kind(self) -> Literal["video", "audio"]:
        return "audio" if self.codec == "opus" else "video"


def container_format(tracks: Sequence[TrackSpec]) -> tuple[str, str, str]:
    """``(format, extension, mime type)``: WebM unless a track is H.264, then Matroska."""
    if any(track.codec == "h264" for track in tracks):
        return "matroska", "mkv", "video/x-matroska"
    if all(track.kind == "audio" for track in tracks):
        return "webm", "webm", "audio/webm"
    return "webm", "webm", "video/webm"


class MediaFile:
    """Writes packets of ``tracks`` (by index) to ``path``; the header waits for ``start``."""

    def __init__(
        self,
        path: Path,
        tracks: Sequence[TrackSpec],
        *,
        cluster_ms: int = 1000,
        interleave_ms: int = 1000,
    ) -> None:
        self.path = path
        self.tracks = tuple(tracks)
        self.format, _, self.mime_type = container_format(tracks)
        self.packets = [0] * len(self.tracks)
        self.first_pts: list[int | None] = [None] * len(self.tracks)
        self.last_pts: list[int | None] = [None] * len(self.tracks)
        self._options = {
            "cluster_time_limit": str(cluster_ms),
            "flush_packets": "1",
            "max_interleave_delta": str(interleave_ms * 1000),
        }
        self._container: OutputContainer | None = None
        self._streams: list[Stream] = []
        self._closed = False

    @property
    def started(self) -> bool:
        return self._container is not None

    def start(self, video: Mapping[int, VideoParams]) -> None:
        """Write the header; ``video`` gives each video track's size and extradata."""
        try:
            container = av.open(str(self.path), "w", format=self.format, options=self._options)
        except (av.FFmpegError, OSError) as exc:
            raise WriteFailed(f"cannot create {self.path.name}: {exc}") from exc
        assert isinstance(container, OutputContainer)
        self._container = container
        for index, track in enumerate(self.tracks):
            stream = container.add_stream_from_template(template(track.codec), opaque=False)
            context = stream.codec_context
            if track.kind == "video":
                params = video[index]
                context.width, context.height = params.width, params.height  # type: ignore[attr-defined]
                context.extradata = params.extradata or None
            else:
                context.extradata = opus_head()
            context.time_base = Fraction(1, track.clock_rate)
            self._streams.append(stream)
        try:
            container.start_encoding()
        except (av.FFmpegError, OSError) as exc:
            self._abandon()
            raise WriteFailed(f"cannot write the header of {self.path.name}: {exc}") from exc

    def write(self, index: int, data: bytes, pts: int, keyframe: bool) -> bool:
        """Mux one frame at ``pts`` (track clock units); False if dropped as out of order."""
        container = self._container
        if container is None or self._closed:
            raise WriteFailed("the file is not open")
        last = self.last_pts[index]
        if last is not None and pts <= last:
            return False
        track = self.tracks[index]
        packet = av.Packet(data)
        packet.stream = self._streams[index]
        packet.time_base = Fraction(1, track.clock_rate)
        packet.pts = packet.dts = pts
        packet.is_keyframe = keyframe
        if track.kind == "audio":
            packet.duration = 960 * track.clock_rate // 48_000
        try:
            container.mux_one(packet)
        except (av.FFmpegError, OSError) as exc:
            self._abandon()
            raise WriteFailed(f"writing {self.path.name} failed: {exc}") from exc
        if self.first_pts[index] is None:
            self.first_pts[index] = pts
        self.last_pts[index] = pts
        self.packets[index] += 1
        return True

    def duration(self) -> float:
        """Seconds from the earliest first frame to the latest last frame of any track."""
        spans = [
            (first / t.clock_rate, last / t.clock_rate)
            for first, last, t in zip(self.first_pts, self.last_pts, self.tracks, strict=True)
            if first is not None and last is not None
        ]
        if not spans:
            return 0.0
        return max(end for _, end in spans) - min(start for start, _ in spans)

    def close(self) -> None:
        """Write the trailer (cues, duration): the file is final."""
        if self._closed:
            return
        self._closed = True
        if self._container is None:
            return
        try:
            self._container.close()
        except (av.FFmpegError, OSError) as exc:
            raise WriteFailed(f"finishing {self.path.name} failed: {exc}") from exc

    def _abandon(self) -> None:
        """After a write error: release the file without another write."""
        self._closed = True
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                container.close()

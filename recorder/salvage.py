"""Files of a recording the server never finalized (it died mid-live), read back as they are.

A file written by ``MediaFile`` plays up to its last whole cluster even without its trailer:
``salvage`` opens each file of a live's directory with PyAV and reports what it holds (codecs,
real size on disk, duration from its first to its last packet). A torn last cluster ends the
reading, not the file; a file PyAV cannot open at all is left out. Blocking: run it in a thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
from av.container import InputContainer

from recorder.media_file import CODEC_OF_MIME, Codec, TrackSpec, container_format
from recorder.recorder import RecordedFile
from streamer.frames import AUDIO_CLOCK_RATE, VIDEO_CLOCK_RATE

log = logging.getLogger("directlive.recorder")

EXTENSIONS = (".webm", ".mkv")
_CODECS: dict[str, Codec] = {codec: codec for codec in CODEC_OF_MIME.values()}


def salvage(directory: Path) -> tuple[tuple[RecordedFile, ...], float]:
    """The readable files of one live's directory, and when the last of them was written
    (0.0 if none)."""
    if not directory.is_dir():
        return (), 0.0
    paths = sorted(p for p in directory.iterdir() if p.suffix in EXTENSIONS and p.is_file())
    files = []
    last_write = 0.0
    for path in paths:
        found = _read(path)
        if found is not None:
            files.append(found)
            last_write = max(last_write, path.stat().st_mtime)
    return tuple(files), last_write


def _read(path: Path) -> RecordedFile | None:
    try:
        opened = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.warning("recording %s cannot be read back: %s", path, exc)
        return None
    assert isinstance(opened, InputContainer)
    with opened as container:
        streams = [s for s in container.streams if s.codec_context.name in _CODECS]
        if not streams:
            log.warning("recording %s holds no recorded track", path)
            return None
        counts = {"video": 0, "audio": 0}
        spans: dict[int, tuple[float, float]] = {}
        try:
            for packet in container.demux(streams):
                if packet.pts is None or not packet.size:
                    continue
                at = float(packet.pts * packet.time_base)
                first, last = spans.get(packet.stream.index, (at, at))
                spans[packet.stream.index] = (min(first, at), max(last, at))
                counts[packet.stream.type] += 1
        except (av.FFmpegError, OSError, ValueError) as exc:
            log.info("recording %s ends in a torn cluster: %s", path.name, exc)
    specs = [_spec(s.codec_context.name) for s in streams]
    duration = max(e for _, e in spans.values()) - min(s for s, _ in spans.values()) if spans else 0
    return RecordedFile(
        name=path.name,
        participant=path.stem.rsplit("-", 1)[0],
        mime_type=container_format(specs)[2],
        codecs=tuple(spec.codec for spec in specs),
        size=path.stat().st_size,
        duration=round(duration, 3),
        video_frames=counts["video"],
        audio_frames=counts["audio"],
    )


def _spec(name: str) -> TrackSpec:
    codec = _CODECS[name]
    return TrackSpec(codec, AUDIO_CLOCK_RATE if codec == "opus" else VIDEO_CLOCK_RATE)

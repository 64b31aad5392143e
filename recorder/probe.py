"""What an uploaded file really is, found by opening it with PyAV (never by its name).

``probe_upload`` is blocking (run it in a thread). It first checks the container's own framing
against the file's length (an MP4 box, a Matroska segment, a RIFF chunk running past the end,
a JPEG without its end marker, a PNG without ``IEND``): a cut-off upload is
``truncated_upload``. Then PyAV must open it, find a photo (one JPEG, PNG or WebP picture) or a
video (MP4 or Matroska/WebM with H.264, HEVC, VP8, VP9 or AV1 and optional AAC/Opus/Vorbis/MP3
audio), read every packet and decode the first picture. Anything it cannot read is
``bad_media``; readable media of another kind is ``unsupported_media_type``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import av
from av.container import InputContainer

from directlive.errors import BadRequest, UnsupportedMediaType

PHOTO_CODECS = {"mjpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
VIDEO_CODECS = {"h264", "hevc", "vp8", "vp9", "av1"}
AUDIO_CODECS = {"aac", "opus", "vorbis", "mp3"}
WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}


@dataclass(frozen=True)
class MediaInfo:
    """An accepted upload as PyAV read it."""

    kind: Literal["photo", "video"]
    mime_type: str
    width: int
    height: int
    duration: float
    codecs: tuple[str, ...]


def _truncated(path: Path) -> bool:
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(64)
        if head[4:8] == b"ftyp":
            return _boxes_run_past(file, size)
        if head.startswith(b"\x1a\x45\xdf\xa3"):
            return _segment_runs_past(head, size)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return bool(struct.unpack("<I", head[4:8])[0] + 8 > size)
        file.seek(max(0, size - 12))
        tail = file.read()
    if head.startswith(b"\xff\xd8"):
        return not tail.rstrip(b"\x00").endswith(b"\xff\xd9")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return not tail.endswith(b"IEND\xaeB`\x82")
    return False


def _boxes_run_past(file: BinaryIO, size: int) -> bool:
    """ISO BMFF: a top-level box whose declared size runs past the end of the file."""
    offset = 0
    while offset + 8 <= size:
        file.seek(offset)
        header = file.read(16)
        box_size = struct.unpack(">I", header[:4])[0]
        if box_size == 1 and len(header) >= 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            return False  # the box runs to the end of the file by definition
        if box_size < 8:
            return False  # not ours to judge: PyAV will refuse it
        offset += box_size
    return offset > size


def _vint(data: bytes, pos: int) -> tuple[int, int, bool]:
    """An EBML variable-size integer at ``pos``: (value, length, all ones = unknown)."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    value = first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, length, value == (1 << (7 * length)) - 1


def _segment_runs_past(head: bytes, size: int) -> bool:
    """Matroska: a segment of known size that runs past the end of the file."""
    try:
        header_size, length, _ = _vint(head, 4)
        pos = 4 + length + header_size
        if head[pos : pos + 4] != b"\x18\x53\x80\x67":
            return False
        segment_size, length, unknown = _vint(head, pos + 4)
    except IndexError:
        return True
    return not unknown and pos + 4 + length + segment_size > size


def probe_upload(path: Path) -> MediaInfo:
    """Open ``path`` with PyAV; raise ``BadRequest`` (``bad_media``, ``truncated_upload``) or
    ``UnsupportedMediaType`` unless it is a photo or a video we accept."""
    if _truncated(path):
        raise BadRequest("the upload is cut off before its end", code="truncated_upload")
    try:
        opened = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise BadRequest(f"not a readable photo or video: {exc}", code="bad_media") from exc
    assert isinstance(opened, InputContainer)
    with opened as container:
        try:
            return _inspect(container)
        except (av.FFmpegError, OSError, ValueError, StopIteration) as exc:
            raise BadRequest(f"the media cannot be read: {exc}", code="bad_media") from exc


def _inspect(container: InputContainer) -> MediaInfo:
    videos = list(container.streams.video)
    audios = list(container.streams.audio)
    codecs = tuple(s.codec_context.name for s in (*videos, *audios))
    name = container.format.name
    if name.endswith("_pipe") and len(videos) == 1 and not audios:
        codec = videos[0].codec_context.name
        if codec not in PHOTO_CODECS:
            raise UnsupportedMediaType(f"photos must be JPEG, PNG or WebP, not {codec}")
        frame = next(container.decode(video=0))
        return MediaInfo("photo", PHOTO_CODECS[codec], frame.width, frame.height, 0.0, codecs)
    is_mp4, is_mkv = "mp4" in name.split(","), "matroska" in name.split(",")
    if not videos or not (is_mp4 or is_mkv):
        raise UnsupportedMediaType(f"not a photo or a video we take ({name}: {codecs})")
    if videos[0].codec_context.name not in VIDEO_CODECS or any(
        s.codec_context.name not in AUDIO_CODECS for s in audios
    ):
        raise UnsupportedMediaType(f"unsupported codecs {codecs}")
    packets = sum(1 for packet in container.demux(videos[0]) if packet.size)
    if not packets:
        raise BadRequest("the video holds no picture", code="bad_media")
    container.seek(0)
    frame = next(container.decode(video=0))
    duration = float(container.duration or 0) / av.time_base
    if is_mp4:
        mime = "video/mp4"
    else:
        mime = "video/webm" if set(codecs) <= WEBM_CODECS else "video/x-matroska"
    return MediaInfo("video", mime, frame.width, frame.height, duration, codecs)

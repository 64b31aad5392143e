"""Encoded media frames as they travel through the SFU, never decoded."""

from __future__ import annotations

import time

VIDEO_CLOCK_RATE = 90_000
AUDIO_CLOCK_RATE = 48_000

_H264_IDR = 5
_H264_SPS = 7


def vp8_is_keyframe(data: bytes) -> bool:
    """A VP8 frame is a keyframe when bit 0 of its first byte is 0 (RFC 6386 9.1)."""
    return len(data) > 0 and not data[0] & 0x01


def h264_nal_types(data: bytes) -> list[int]:
    """NAL unit types of an Annex-B access unit, in order."""
    types = []
    pos = data.find(b"\x00\x00\x01")
    while pos != -1 and pos + 3 < len(data):
        types.append(data[pos + 3] & 0x1F)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return types


def h264_is_keyframe(data: bytes) -> bool:
    """An H.264 access unit starts a GOP when it carries an IDR slice."""
    return _H264_IDR in h264_nal_types(data)


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """Whether a video frame can be decoded on its own; audio frames always can."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_is_keyframe(data)
    if mime == "video/h264":
        return h264_is_keyframe(data)
    return not mime.startswith("video/")


class EncodedFrame:
    """One complete encoded frame of one track, shared by every viewer of that track.

    RTP payloads are cut once per frame (``payloads``) by the first viewer's sender that
    needs them, then reused by every other viewer.
    """

    __slots__ = ("data", "keyframe", "payloads", "picture_id", "received_at", "timestamp")

    def __init__(
        self,
        data: bytes,
        timestamp: int,
        keyframe: bool,
        picture_id: int = 0,
        received_at: float | None = None,
    ) -> None:
        self.data = data
        """The frame as the codec emitted it (VP8 bitstream, H.264 Annex-B, Opus packet)."""
        self.timestamp = timestamp
        """RTP clock units, counted from the track's first frame."""
        self.keyframe = keyframe
        """Whether a decoder can start on this frame."""
        self.picture_id = picture_id
        """VP8 picture id (15 bits) to packetize with: one sequence per source track."""
        self.received_at = time.monotonic() if received_at is None else received_at
        """Monotonic time the frame was complete on the server."""
        self.payloads: list[bytes] | None = None
        """RTP payloads, filled in once by the packer."""

    def __repr__(self) -> str:
        kind = "key" if self.keyframe else "delta"
        return f"EncodedFrame({kind}, ts={self.timestamp}, {len(self.data)} bytes)"


Outgoing = tuple[EncodedFrame, int]
"""What a forwarding track yields: a shared frame and this viewer's RTP timestamp for it."""

"""What a keyframe says about its picture, read from the bitstream, never decoded.

The recorder's Matroska header wants each video track's picture size and, for H.264, the SPS
and PPS as codec private data; the layers of one participant are ranked by picture size. Both
come from here: the VP8 keyframe header (RFC 6386 9.1), the H.264 sequence parameter set
(ITU-T H.264 7.3.2.1) and the Annex-B NAL framing the receiver tap hands us.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

NAL_SPS = 7
NAL_PPS = 8
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class BitstreamError(ValueError):
    """The frame does not hold what its codec promises (no SPS, short header, ...)."""


@dataclass(frozen=True)
class VideoParams:
    """A video track's parameters as a container header states them."""

    width: int
    height: int
    extradata: bytes = b""
    """Codec private data: Annex-B SPS + PPS for H.264, nothing for VP8."""


def vp8_params(keyframe: bytes) -> VideoParams:
    """Picture size from a VP8 keyframe's uncompressed header (start code 9d 01 2a)."""
    if len(keyframe) < 10 or keyframe[0] & 0x01 or keyframe[3:6] != b"\x9d\x01\x2a":
        raise BitstreamError("not a VP8 keyframe")
    width, height = struct.unpack("<HH", keyframe[6:10])
    return VideoParams(width & 0x3FFF, height & 0x3FFF)


def nal_units(access_unit: bytes) -> list[bytes]:
    """The NAL units of an Annex-B access unit, without their start codes."""
    units = []
    starts = []
    pos = access_unit.find(b"\x00\x00\x01")
    while pos != -1:
        starts.append(pos + 3)
        pos = access_unit.find(b"\x00\x00\x01", pos + 3)
    for index, start in enumerate(starts):
        end = starts[index + 1] - 3 if index + 1 < len(starts) else len(access_unit)
        unit = access_unit[start:end]
        if index + 1 < len(starts) and unit.endswith(b"\x00"):
            unit = unit[:-1]  # the leading zero of a 4-byte start code
        if unit:
            units.append(unit)
    return units


def h264_params(keyframe: bytes) -> VideoParams:
    """Picture size and Annex-B extradata (SPS + PPS) from an IDR access unit."""
    units = nal_units(keyframe)
    sps = next((u for u in units if u[0] & 0x1F == NAL_SPS), None)
    pps = next((u for u in units if u[0] & 0x1F == NAL_PPS), None)
    if sps is None or pps is None:
        raise BitstreamError("the H.264 keyframe carries no SPS and PPS")
    width, height = sps_picture_size(sps)
    start = b"\x00\x00\x00\x01"
    return VideoParams(width, height, start + sps + start + pps)


class _Bits:
    """Reads an RBSP bit by bit, with Exp-Golomb codes."""

    def __init__(self, rbsp: bytes) -> None:
        self._data = rbsp
        self._pos = 0

    def bit(self) -> int:
        byte = self._pos >> 3
        if byte >= len(self._data):
            raise BitstreamError("SPS ends early")
        value = (self._data[byte] >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
            if zeros > 31:
                raise BitstreamError("bad Exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _rbsp(nal: bytes) -> bytes:
    """Drop emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_lists(bits: _Bits, count: int) -> None:
    for index in range(count):
        if not bits.bit():
            continue
        size = 16 if index < 6 else 64
        last = following = 8
        for _ in range(size):
            if following:
                following = (last + bits.se() + 256) % 256
            last = following or last


def sps_picture_size(sps: bytes) -> tuple[int, int]:
    """Cropped width and height from a sequence parameter set NAL unit (with its header)."""
    bits = _Bits(_rbsp(sps[1:]))
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            bits.bit()
        bits.ue()  # bit_depth_luma
        bits.ue()  # bit_depth_chroma
        bits.bit()
        if bits.bit():
            _skip_scaling_lists(bits, 8 if chroma_format != 3 else 12)
    bits.ue()  # log2_max_frame_num
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()
    bits.bit()  # direct_8x8_inference
    width, height = width_mbs * 16, height_units * 16 * (2 - frame_mbs_only)
    if bits.bit():  # frame_cropping
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        crop_x = 2 if chroma_format in (1, 2) else 1
        crop_y = (2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
        width -= (left + right) * crop_x
        height -= (top + bottom) * crop_y
    return width, height


def coded_size(mime_type: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) of a keyframe of ``mime_type``, or None when it carries none (a delta
    frame, audio, an unreadable header)."""
    mime = mime_type.lower()
    try:
        if mime == "video/vp8":
            params = vp8_params(data)
            width, height = params.width, params.height
        elif mime == "video/h264":
            sps = next((u for u in nal_units(data) if u[0] & 0x1F == NAL_SPS), None)
            if sps is None:
                return None
            width, height = sps_picture_size(sps)
        else:
            return None
    except BitstreamError:
        return None
    return (width, height) if width > 0 and height > 0 else None

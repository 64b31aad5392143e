"""The coded picture size a keyframe carries (VP8 frame header, H.264 SPS), which ranks the
layers of one participant: more pixels, higher layer."""

from __future__ import annotations

_VP8_START_CODE = b"\x9d\x01\x2a"
_H264_SPS = 7
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 keyframe (RFC 6386 9.1), or None for anything else."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != _VP8_START_CODE:
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class _Bits:
    """Reads an RBSP (emulation prevention bytes already removed) bit by bit."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def bits(self, count: int) -> int:
        if count > self._left:
            raise ValueError("SPS ends early")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _rbsp(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def sps_size(sps: bytes) -> tuple[int, int] | None:
    """(width, height) of an H.264 SPS NAL unit (header byte included), after cropping."""
    try:
        bits = _Bits(_rbsp(sps[1:]))
        profile = bits.bits(8)
        bits.bits(16)  # constraint flags, level
        bits.ue()  # seq_parameter_set_id
        chroma_format = 1
        if profile in _HIGH_PROFILES:
            chroma_format = bits.ue()
            if chroma_format == 3:
                bits.bits(1)
            bits.ue()
            bits.ue()
            bits.bits(1)
            if bits.bits(1):  # scaling matrices: not worth parsing for a size
                return None
        bits.ue()  # log2_max_frame_num_minus4
        order_type = bits.ue()
        if order_type == 0:
            bits.ue()
        elif order_type == 1:
            bits.bits(1)
            bits.se()
            bits.se()
            for _ in range(bits.ue()):
                bits.se()
        bits.ue()  # max_num_ref_frames
        bits.bits(1)
        width_mbs = bits.ue() + 1
        height_units = bits.ue() + 1
        frame_mbs_only = bits.bits(1)
        if not frame_mbs_only:
            bits.bits(1)
        bits.bits(1)
        width = width_mbs * 16
        height = (2 - frame_mbs_only) * height_units * 16
        if bits.bits(1):  # frame cropping
            left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
            unit_x = 2 if chroma_format in (1, 2) else 1
            unit_y = (2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
            width -= unit_x * (left + right)
            height -= unit_y * (top + bottom)
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


def h264_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the SPS of an Annex-B access unit, or None without one."""
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        end = data.find(b"\x00\x00\x01", start + 3)
        nal = data[start + 3 : end if end != -1 else len(data)].rstrip(b"\x00")
        if nal and nal[0] & 0x1F == _H264_SPS:
            return sps_size(nal)
        start = end
    return None


def coded_size(mime_type: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) of a keyframe of ``mime_type``, or None when it carries none."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_size(data)
    if mime == "video/h264":
        return h264_size(data)
    return None

"""Stream templates that let PyAV mux encoded packets without ever opening a codec.

PyAV opens an encoder for every stream made with ``add_stream``; streams made with
``add_stream_from_template`` are left closed. The templates come from a tiny Matroska header
(one VP8, one H.264 and one Opus track, no frames) written here by hand in EBML and read back
with PyAV's demuxer once per process: no encoder or decoder is ever opened for recording.
"""

from __future__ import annotations

import functools
import io
import struct

import av
from av.container import InputContainer
from av.stream import Stream

_CODEC_IDS = {"vp8": "V_VP8", "h264": "V_MPEG4/ISO/AVC", "opus": "A_OPUS"}


def _size(length: int) -> bytes:
    for octets in range(1, 9):
        if length < (1 << (7 * octets)) - 1:
            return (length | (1 << (7 * octets))).to_bytes(octets, "big")
    raise ValueError("EBML element too large")


def _element(element_id: int, payload: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + _size(len(payload))


def _el(element_id: int, payload: bytes) -> bytes:
    return _element(element_id, payload) + payload


def _uint(element_id: int, value: int) -> bytes:
    return _el(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _text(element_id: int, value: str) -> bytes:
    return _el(element_id, value.encode())


def _track(number: int, codec: str) -> bytes:
    common = _uint(0xD7, number) + _uint(0x73C5, number) + _text(0x86, _CODEC_IDS[codec])
    if codec == "opus":
        audio = _el(0xB5, struct.pack(">d", 48_000.0)) + _uint(0x9F, 2)
        return _el(0xAE, common + _uint(0x83, 2) + _el(0xE1, audio))
    video = _uint(0xB0, 640) + _uint(0xBA, 480)
    return _el(0xAE, common + _uint(0x83, 1) + _el(0xE0, video))


def _header() -> bytes:
    ebml = _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
    ebml += _text(0x4282, "matroska") + _uint(0x4287, 4) + _uint(0x4285, 2)
    info = _uint(0x2AD7B1, 1_000_000) + _text(0x4D80, "directlive") + _text(0x5741, "directlive")
    tracks = b"".join(_track(n, codec) for n, codec in enumerate(_CODEC_IDS, start=1))
    segment = _el(0x1549A966, info) + _el(0x1654AE6B, tracks) + _el(0x1F43B675, _uint(0xE7, 0))
    unknown_size = bytes.fromhex("01FFFFFFFFFFFFFF")
    return _el(0x1A45DFA3, ebml) + bytes.fromhex("18538067") + unknown_size + segment


@functools.cache
def _templates() -> tuple[InputContainer, dict[str, Stream]]:
    container = av.open(io.BytesIO(_header()), format="matroska")
    assert isinstance(container, InputContainer)
    streams = {stream.codec_context.name: stream for stream in container.streams}
    return container, streams


def template(codec: str) -> Stream:
    """A closed stream of ``codec`` (``vp8``, ``h264`` or ``opus``) to copy into an output."""
    return _templates()[1][codec]

"""The lean viewer's own parsing agrees with aiortc's and with the encoder."""

from __future__ import annotations

import fractions

import av
import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.codecs import depayload, get_encoder

from benchmarks.clients import vp8_descriptor_size
from benchmarks.media import encode_loop, is_keyframe

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)


def test_vp8_descriptor_size_strips_what_aiortc_strips() -> None:
    loop = encode_loop("vp8", seconds=2.0, gop_seconds=1.0)
    encoder = get_encoder(VP8)
    checked = 0
    for number, frame in enumerate(loop.video):
        packet = av.Packet(frame)
        packet.pts, packet.time_base = number * 3000, fractions.Fraction(1, 90_000)
        payloads, _ = encoder.pack(packet)
        for payload in payloads:
            assert payload[vp8_descriptor_size(payload, 0) :] == depayload(VP8, payload)
            checked += 1
    assert checked > len(loop.video)


@pytest.mark.parametrize(
    ("descriptor", "size"),
    [
        (b"\x10", 1),  # no extension
        (b"\x90\x80\x05", 3),  # 7-bit picture id
        (b"\x90\x80\x85\x05", 4),  # 15-bit picture id
        (b"\x90\xe0\x05\x01\x40", 5),  # 7-bit picture id, TL0PICIDX, TID
        (b"\x90\x10\x40", 3),  # KEYIDX alone
    ],
)
def test_vp8_descriptor_size_reads_every_optional_field(descriptor: bytes, size: int) -> None:
    data = b"\xff" * 3 + descriptor + b"\x9d\x01\x2a"
    assert vp8_descriptor_size(data, 3) == size
    assert data[3 + size :] == depayload(VP8, descriptor + b"\x9d\x01\x2a")


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_is_keyframe_finds_the_encoders_keyframes(codec: str) -> None:
    loop = encode_loop(codec, seconds=2.0, gop_seconds=1.0)
    assert [is_keyframe(codec, frame) for frame in loop.video] == loop.keyframes
    assert any(loop.keyframes)
    assert not all(loop.keyframes)

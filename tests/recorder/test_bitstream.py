"""Container parameters read from encoded frames, never decoded: checked against PyAV."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from recorder.media_file import opus_head
from streamer.bitstream import BitstreamError, h264_params, vp8_params


def _keyframe(codec: str, width: int, height: int) -> bytes:
    encoder = av.CodecContext.create(codec, "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    if codec == "libx264":
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8))
    frame = frame.reformat(format="yuv420p")
    frame.pts = 0
    return b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)][:1])


@pytest.mark.parametrize(("width", "height"), [(640, 480), (650, 362)])
def test_picture_size_of_h264_and_vp8_keyframes(width: int, height: int) -> None:
    h264 = h264_params(_keyframe("libx264", width, height))  # High profile: cropping, scaling
    assert (h264.width, h264.height) == (width, height)
    assert h264.extradata.startswith(b"\x00\x00\x00\x01\x67")
    vp8 = vp8_params(_keyframe("libvpx", width, height))
    assert (vp8.width, vp8.height, vp8.extradata) == (width, height, b"")


def test_frames_without_what_a_header_needs_are_refused() -> None:
    with pytest.raises(BitstreamError):
        h264_params(b"\x00\x00\x00\x01\x65\x88")  # an IDR slice without SPS and PPS
    with pytest.raises(BitstreamError):
        vp8_params(b"\x11\x22")
    assert opus_head()[:8] == b"OpusHead"
    assert len(opus_head()) == 19


def test_aiortc_still_holds_audio_back_by_the_packets_the_recorder_assumes() -> None:
    import inspect

    from aiortc import rtcrtpreceiver

    from recorder.participant import AUDIO_PREFETCH

    source = inspect.getsource(rtcrtpreceiver.RTCRtpReceiver)
    assert f"JitterBuffer(capacity=16, prefetch={AUDIO_PREFETCH})" in source

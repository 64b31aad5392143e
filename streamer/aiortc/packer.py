"""Cuts encoded frames into RTP payloads for aiortc senders, once per frame for all viewers.

``RTCRtpSender._next_encoded_frame`` creates its encoder lazily (``get_encoder``) and, when a
track returns something that is not an ``av.Frame``, calls ``encoder.pack(item)``. We install
a ``FramePacker`` as that encoder before the sender starts: no codec context is ever opened
(aiortc's Opus encoder would open one in its constructor), and payloads are computed once per
frame and cached on it. Viewer PLI/FIR, which aiortc turns into a flag only its own encoders
read, is redirected to a callback that asks the publisher for a keyframe.
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from directlive.errors import AiortcInternalsChanged
from streamer.frames import EncodedFrame, Outgoing

_ENCODER_ATTR = "_RTCRtpSender__encoder"


def packetize(mime_type: str, frame: EncodedFrame) -> list[bytes]:
    """RTP payloads of ``frame``, computed on first use and shared by every viewer."""
    payloads = frame.payloads
    if payloads is None:
        mime = mime_type.lower()
        if mime == "video/vp8":
            payloads = Vp8Encoder._packetize(frame.data, frame.picture_id)
        elif mime == "video/h264":
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(frame.data))
        else:
            payloads = [frame.data]
        frame.payloads = payloads
    return payloads


class FramePacker:
    """The ``encoder`` of one viewer's sender: packs, never encodes."""

    def __init__(self, mime_type: str) -> None:
        self.mime_type = mime_type

    def pack(self, item: Outgoing) -> tuple[list[bytes], int]:
        frame, timestamp = item
        return packetize(self.mime_type, frame), timestamp

    def encode(self, frame: object, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("the SFU forwards encoded frames; it never encodes")


def install_packer(
    sender: RTCRtpSender, mime_type: str, on_keyframe_request: Callable[[], None]
) -> FramePacker:
    """Make ``sender`` pack our frames and report viewer PLI/FIR to ``on_keyframe_request``."""
    if not hasattr(sender, _ENCODER_ATTR):
        raise AiortcInternalsChanged(f"RTCRtpSender has no {_ENCODER_ATTR}")
    if getattr(sender, _ENCODER_ATTR) is not None:
        raise AiortcInternalsChanged("sender already has an encoder; install before it starts")
    packer = FramePacker(mime_type)
    setattr(sender, _ENCODER_ATTR, packer)
    # RTCRtpSender._handle_rtcp_packet calls self._send_keyframe() on PLI and FIR.
    setattr(sender, "_send_keyframe", on_keyframe_request)  # noqa: B010
    return packer

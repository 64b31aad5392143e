"""Codec choice: a publisher sends exactly one codec per track; viewers get that same codec."""

from __future__ import annotations

from aiortc import RTCRtpCodecCapability, RTCRtpCodecParameters, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcpeerconnection import is_codec_compatible
from aiortc.rtcrtpparameters import RTCRtpCodecParameters as _Params

from directlive.errors import Unsupported

FORWARDABLE = {"video/vp8", "video/h264", "audio/opus"}


def _is_rtx(codec: _Params) -> bool:
    return codec.mimeType.lower().endswith("/rtx")


def _with_rtx(
    chosen: RTCRtpCodecParameters, codecs: list[RTCRtpCodecParameters]
) -> list[RTCRtpCodecParameters]:
    rtx = [c for c in codecs if _is_rtx(c) and c.parameters.get("apt") == chosen.payloadType]
    return [chosen, *rtx]


def pin_publisher_codec(transceiver: RTCRtpTransceiver) -> RTCRtpCodecParameters:
    """Keep only the first forwardable codec the publisher offered (and its RTX)."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    for codec in codecs:
        if codec.mimeType.lower() in FORWARDABLE:
            transceiver._codecs = _with_rtx(codec, codecs)
            return codec
    offered = ", ".join(c.mimeType for c in codecs if not _is_rtx(c)) or "none"
    raise Unsupported(
        f"no forwardable {transceiver.kind} codec offered (offered: {offered}; "
        "we take VP8, H.264 packetization-mode 1 baseline, Opus)",
        code="codec_unsupported",
    )


def pin_viewer_codec(transceiver: RTCRtpTransceiver, publisher: RTCRtpCodecParameters) -> None:
    """Answer the viewer with the publisher's own codec, or refuse the offer."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    for codec in codecs:
        if not _is_rtx(codec) and is_codec_compatible(codec, publisher):
            transceiver._codecs = _with_rtx(codec, codecs)
            return
    raise Unsupported(
        f"this live sends {publisher.mimeType} "
        f"{_describe(publisher)}and the offer cannot receive it",
        code="codec_unsupported",
    )


def _describe(codec: RTCRtpCodecParameters) -> str:
    profile = codec.parameters.get("profile-level-id")
    return f"(profile-level-id {profile}) " if profile else ""


def capabilities_like(codec: RTCRtpCodecParameters) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities compatible with ``codec`` (and RTX), for codec preferences."""
    kind = codec.mimeType.split("/")[0]
    capabilities = RTCRtpSender.getCapabilities(kind)
    assert capabilities is not None
    chosen = [
        c
        for c in capabilities.codecs
        if is_codec_compatible(
            RTCRtpCodecParameters(
                mimeType=c.mimeType, clockRate=c.clockRate, parameters=dict(c.parameters)
            ),
            codec,
        )
    ]
    rtx = [c for c in capabilities.codecs if c.mimeType.lower().endswith("/rtx")]
    return chosen + rtx if kind == "video" else chosen

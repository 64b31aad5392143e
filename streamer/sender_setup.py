"""Makes an aiortc sender forward one source: our forwarder (or aiortc's own loop with our
packer), and the participant in its msid."""

from __future__ import annotations

from aiortc import RTCRtpCodecCapability, RTCRtpCodecParameters, RTCRtpSender
from aiortc.rtcpeerconnection import is_codec_compatible

from streamer.packer import install_packer
from streamer.rtp_forwarder import RtpForwarder
from streamer.source import TrackSource
from streamer.viewer_track import ViewerTrack


def prepare_sender(
    sender: RTCRtpSender,
    source: TrackSource,
    codec: RTCRtpCodecParameters,
    track: ViewerTrack,
    *,
    fast_forwarding: bool = True,
) -> None:
    """Install our ``RtpForwarder`` (or, with ``fast_forwarding=False``, the packer under
    aiortc's own per-packet loop), and name the stream after the participant so a client can
    lay participants out side by side (``a=msid:<participant> <track>``)."""
    if fast_forwarding:
        RtpForwarder(sender, track, codec.mimeType, track.request_keyframe)
    else:
        install_packer(sender, codec.mimeType, track.request_keyframe)
    sender._stream_id = source.participant
    sender._track_id = source.track_id


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

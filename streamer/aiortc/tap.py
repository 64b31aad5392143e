"""Taps complete encoded frames out of an aiortc receiver, so nothing is ever decoded.

aiortc has no public hook for received encoded frames: ``RTCRtpReceiver._handle_rtp_packet``
hands each frame the jitter buffer completes to a private ``queue.Queue`` read by a decoder
thread. We replace that queue, before the receiver starts, with an object that gives each
frame to a callback on the event loop and leaves the thread idle until the receiver stops.
aiortc is pinned exactly; ``streamer.aiortc.check_internals`` fails loudly if an upgrade moves
this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpCodecParameters, RTCRtpReceiver

from directlive.errors import AiortcInternalsChanged

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"

FrameCallback = Callable[[RTCRtpCodecParameters, bytes, int], None]
"""Called on the event loop with (codec, frame data, RTP timestamp from the track's start)."""


class _EncodedFrameTap:
    """Stands in for the receiver's decoder queue: ``put`` from the loop, ``get`` from the
    (now idle) decoder thread, which only ever receives the final ``None``."""

    def __init__(self, on_frame: FrameCallback) -> None:
        self._on_frame = on_frame
        self._stopped = threading.Event()

    def put(self, item: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if item is None:
            self._stopped.set()
            return
        codec, jitter_frame = item
        self._on_frame(codec, jitter_frame.data, jitter_frame.timestamp)

    def get(self) -> None:
        self._stopped.wait()


def tap_receiver(receiver: RTCRtpReceiver, on_frame: FrameCallback) -> None:
    """Route every complete encoded frame of ``receiver`` to ``on_frame`` instead of a decoder.

    Must be called before the receiver starts, i.e. from the peer connection's ``track`` event.
    """
    if getattr(receiver, _THREAD_ATTR, None) is not None:
        raise AiortcInternalsChanged("receiver already started; tap it from the track event")
    if not hasattr(receiver, _QUEUE_ATTR):
        raise AiortcInternalsChanged(f"RTCRtpReceiver has no {_QUEUE_ATTR}")
    setattr(receiver, _QUEUE_ATTR, _EncodedFrameTap(on_frame))


def receives_track(receiver: RTCRtpReceiver) -> bool:
    """Whether the remote side sends on this receiver's transceiver (aiortc's ``_track``)."""
    return receiver._track is not None


async def send_picture_loss(receiver: RTCRtpReceiver) -> None:
    """Ask the sender of ``receiver``'s stream for a keyframe (RTCP PLI)."""
    sources = receiver.getSynchronizationSources()
    if sources:
        await receiver._send_rtcp_pli(sources[0].source)

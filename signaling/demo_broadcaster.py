"""A synthetic broadcaster for ``--dev``: an aiortc publisher inside the server process.

It goes live through ``LiveService.go_live`` exactly as a WHIP client would (an SDP offer,
real ICE and DTLS on loopback), sending a moving test pattern and a quiet tone, so a newcomer
has something to watch without a camera. Small frames at 15 fps keep the encoder cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from directlive.errors import DirectliveError
from signaling.lives import LiveService
from streamer import new_peer_connection

log = logging.getLogger("directlive.dev")

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)
AUDIO_SAMPLES = 960  # 20 ms at 48 kHz
BARS = [
    [235, 235, 235],
    [235, 235, 16],
    [16, 235, 235],
    [16, 235, 16],
    [235, 16, 235],
    [235, 16, 16],
    [16, 16, 235],
    [40, 40, 40],
]


class PatternVideoTrack(MediaStreamTrack):
    """Colour bars that scroll, and a white block that crosses the frame once a second."""

    kind = "video"

    def __init__(self, fps: int = 15, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.fps = fps
        self._count = 0
        self._start: float | None = None
        bars = np.array(BARS, dtype=np.uint8)
        columns = np.repeat(bars, max(1, width // len(bars)), axis=0)[:width]
        if len(columns) < width:
            columns = np.concatenate([columns, np.repeat(bars[-1:], width - len(columns), 0)])
        self._base = np.repeat(columns[np.newaxis, :, :], height, axis=0)
        self._width = width
        self._height = height

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        image = np.roll(self._base, self._count * 2, axis=1)
        size = self._height // 4
        x = int((self._count % self.fps) / self.fps * (self._width - size))
        y = (self._height - size) // 2
        image[y : y + size, x : x + size] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = int(self._count * 90_000 / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self._count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A sine tone, s16 stereo 48 kHz, 20 ms per frame, paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float = 330.0, amplitude: int = 1500) -> None:
        super().__init__()
        self._frequency = frequency
        self._amplitude = amplitude
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._samples / 48_000
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(AUDIO_SAMPLES) + self._samples) / 48_000
        tone = (np.sin(2 * np.pi * self._frequency * t) * self._amplitude).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = self._samples
        frame.time_base = AUDIO_TIME_BASE
        self._samples += AUDIO_SAMPLES
        return frame


class DemoBroadcaster:
    """One synthetic live of ``host``; ``start`` goes live, ``stop`` ends it."""

    def __init__(self, lives: LiveService, host: str) -> None:
        self._lives = lives
        self.host = host
        self.live_id: str | None = None
        self._pc: RTCPeerConnection | None = None

    @property
    def running(self) -> bool:
        return self._pc is not None and self._pc.connectionState not in {"failed", "closed"}

    async def start(self) -> str:
        pc = new_peer_connection(self._lives.streamer.host_addresses)
        self._pc = pc
        for track in (PatternVideoTrack(), ToneTrack()):
            pc.addTransceiver(track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        try:
            live_id, answer = await self._lives.go_live(self.host, pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except BaseException:
            await pc.close()
            self._pc = None
            raise
        self.live_id = live_id
        log.info("demo broadcast live=%s user=%s", live_id, self.host)
        return live_id

    async def stop(self) -> None:
        """End the live (if it still runs) and close the connection."""
        if self.live_id is not None:
            with contextlib.suppress(DirectliveError):
                await self._lives.end_live(self.host, self.live_id)
        if self._pc is not None:
            await self._pc.close()
            self._pc = None

"""A layered aiortc publisher and a viewer that decodes what it gets, frame by frame."""

from __future__ import annotations

import bisect
import itertools
import time
from dataclasses import dataclass, field

import av
from aiortc import RTCPeerConnection, RTCSessionDescription

from benchmarks.layered_media import LayerTrack, read_counter
from streamer.aiortc.sender_state import name_stream, redirect_keyframe_requests
from streamer.aiortc.tap import tap_receiver
from tests.media.peers import Exchange, client_pc

STREAM_ID = "camera"


async def publish_layers(
    tracks: list[LayerTrack], exchange: Exchange, pc: RTCPeerConnection | None = None
) -> RTCPeerConnection:
    """One connection (``pc``, else one on loopback), one sendonly m-line per layer (top
    first), all in one msid stream; each layer's PLI reaches its track."""
    pc = pc or client_pc()
    try:
        for index, track in enumerate(tracks):
            sender = pc.addTransceiver(track, direction="sendonly").sender
            name_stream(sender, STREAM_ID, f"layer{index}")
            redirect_keyframe_requests(sender, track.request_keyframe)
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        answer = await exchange(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    except BaseException:
        await pc.close()
        raise
    return pc


@dataclass
class Decoded:
    at: float
    size: tuple[int, int]
    counter: int | None


@dataclass
class SendLog:
    """When each counter value went out, over every layer (they run on one clock)."""

    tracks: list[LayerTrack]

    def latency(self, counter: int, received_at: float) -> float | None:
        """Receipt minus the latest send of ``counter`` before it, on any layer."""
        best: float | None = None
        for track in self.tracks:
            times = [t for t, index in track.sent if index == counter]
            position = bisect.bisect_right(times, received_at)
            if position:
                sent = times[position - 1]
                best = sent if best is None else max(best, sent)
        return None if best is None else received_at - best


@dataclass
class DecodingViewer:
    """Watches one video m-line; taps the encoded frames and decodes each itself, so a
    decoder error or an unreadable counter is seen frame by frame."""

    pc: RTCPeerConnection = field(default_factory=client_pc)
    frames: list[Decoded] = field(default_factory=list)
    decoder_errors: list[float] = field(default_factory=list)
    """When each frame the decoder refused arrived."""

    def __post_init__(self) -> None:
        self.pc.addTransceiver("video", direction="recvonly")
        self._decoder = av.CodecContext.create("vp8", "r")
        self.pc.on("track", self._on_track)

    def _on_track(self, track: object) -> None:
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
        tap_receiver(receiver, lambda codec, data, ts: self._on_encoded(data))

    def _on_encoded(self, data: bytes) -> None:
        now = time.monotonic()
        try:
            pictures = self._decoder.decode(av.Packet(data))
        except av.FFmpegError:
            self.decoder_errors.append(now)
            return
        for picture in pictures:
            counter = read_counter(picture.to_ndarray(format="gray"))
            self.frames.append(Decoded(now, (picture.width, picture.height), counter))

    async def watch(self, exchange: Exchange) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        assert self.pc.localDescription is not None
        answer = await exchange(self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def since(self, start: float) -> list[Decoded]:
        return [f for f in self.frames if f.at >= start]

    @property
    def size(self) -> tuple[int, int] | None:
        return self.frames[-1].size if self.frames else None

    async def close(self) -> None:
        await self.pc.close()


def increasing(frames: list[Decoded], loop: int) -> bool:
    """Whether, within each run of one layer's frames, every counter is ahead of the one
    before, modulo the loop's length (a layer skips ahead at most a GOP to a keyframe).
    Across a switch the counter may step either way: each layer skips on its own."""
    runs: list[list[int]] = [[]]
    previous: tuple[int, int] | None = None
    for frame in frames:
        if frame.size != previous and runs[-1]:
            runs.append([])
        previous = frame.size
        if frame.counter is not None:
            runs[-1].append(frame.counter)
    return all(0 < (b - a) % loop <= loop // 2 for run in runs for a, b in itertools.pairwise(run))

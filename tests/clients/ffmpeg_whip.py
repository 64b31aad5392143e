"""Publish a synthetic live stream with FFmpeg's WHIP muxer (through PyAV).

The video is H.264 constrained baseline without B-frames (libx264, ultrafast, zerolatency) and
carries a frame counter drawn as 32x32 luma cells, which :func:`read_counter` reads back after
decoding. The audio is a 48 kHz stereo Opus sine tone. Frames are paced in real time.

FFmpeg's muxer blocks inside ``av.open`` (HTTP offer/answer, ICE, DTLS) and inside every
``mux`` call, so prefer running it in a subprocess that can be killed::

    python -m tests.clients.ffmpeg_whip URL --token T --seconds S --cert-dir D

which prints one JSON line (a :class:`PublishResult`) on stdout. :func:`publish` is the same
thing as a blocking function, for ``asyncio.to_thread``; :func:`publish_subprocess` runs the
command line above from asyncio code with a hard deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

from tests.clients.certs import ensure_cert
from tests.media.counter import BACKGROUND_LUMA, CELL, MIN_HEIGHT, MIN_WIDTH, draw_counter


class FramePainter:
    """Makes yuv420p frames: a moving bar (so the encoder has work) plus the counter."""

    def __init__(self, width: int, height: int) -> None:
        if width < MIN_WIDTH or height < MIN_HEIGHT or width % 2 or height % 2:
            raise ValueError(f"need even dimensions of at least {MIN_WIDTH}x{MIN_HEIGHT}")
        self.width = width
        self.height = height
        self._plane = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        self._plane[:height] = BACKGROUND_LUMA

    def frame(self, counter: int) -> av.VideoFrame:
        """The frame showing ``counter``; its pts is left to the caller."""
        luma = self._plane[: self.height]
        luma[2 * CELL :] = BACKGROUND_LUMA
        bar = (counter * 8) % self.width
        luma[2 * CELL :, bar : bar + 16] = 200
        draw_counter(luma, counter)
        return av.VideoFrame.from_ndarray(self._plane, format="yuv420p")


# --- audio --------------------------------------------------------------------------------------

AUDIO_RATE = 48000
AUDIO_FRAME_SAMPLES = 960  # 20 ms, Opus' usual frame
TONE_HZ = 440.0


def _tone_frame(index: int) -> av.AudioFrame:
    start = index * AUDIO_FRAME_SAMPLES
    t = (np.arange(start, start + AUDIO_FRAME_SAMPLES) / AUDIO_RATE).astype(np.float64)
    mono = (0.2 * 32767 * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.int16)
    interleaved = np.repeat(mono, 2).reshape(1, -1)  # packed s16 stereo
    frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
    frame.sample_rate = AUDIO_RATE
    frame.pts = start
    frame.time_base = Fraction(1, AUDIO_RATE)
    return frame


# --- publishing ---------------------------------------------------------------------------------


@dataclass
class PublishResult:
    """What one :func:`publish` run did."""

    frames_sent: int = 0
    keyframes_sent: int = 0
    audio_packets_sent: int = 0
    video_packets_sent: int = 0
    wall_seconds: float = 0.0
    connect_seconds: float | None = None
    """From calling ``av.open`` to the muxer being ready (offer, answer, ICE, DTLS, SRTP)."""
    deleted: bool = False
    """FFmpeg logged that its DELETE of the WHIP resource succeeded."""
    error: str | None = None
    http_status: int | None = None
    """HTTP status of a refused POST (e.g. 401), parsed from FFmpeg's error."""
    log_tail: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PublishResult:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return cls(**data)


@dataclass(frozen=True)
class PublishOptions:
    """Encoder and muxer settings of one run."""

    width: int = 640
    height: int = 480
    fps: int = 30
    gop_seconds: float = 2.0
    handshake_timeout_ms: int = 10000
    pkt_size: int = 1200
    dtls_active: bool = False
    """Ask FFmpeg to be the DTLS client (``whip_flags=dtls_active``, offer ``setup:active``)."""


LOG_TAIL_LINES = 40


def muxer_options(token: str | None, cert_dir: Path, opts: PublishOptions) -> dict[str, str]:
    """Options of FFmpeg 8.1's ``whip`` muxer (libavformat/whip.c ``options[]``)."""
    cert = ensure_cert(cert_dir)
    options = {
        "cert_file": str(cert.cert_file),
        "key_file": str(cert.key_file),
        "handshake_timeout": str(opts.handshake_timeout_ms),
        "pkt_size": str(opts.pkt_size),
    }
    if token is not None:
        options["authorization"] = token  # sent as "Authorization: Bearer <token>"
    if opts.dtls_active:
        options["whip_flags"] = "dtls_active"
    return options


def _add_video(container: av.container.OutputContainer, opts: PublishOptions) -> av.VideoStream:
    keyint = max(1, round(opts.fps * opts.gop_seconds))
    stream = container.add_stream(
        "libx264",
        rate=opts.fps,
        options={
            "profile": "baseline",
            "preset": "ultrafast",
            "tune": "zerolatency",
            "bf": "0",
            "g": str(keyint),
            "keyint_min": str(keyint),
            "sc_threshold": "0",
        },
    )
    stream.width = opts.width
    stream.height = opts.height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = Fraction(1, opts.fps)
    stream.codec_context.max_b_frames = 0
    return stream


def _add_audio(container: av.container.OutputContainer) -> av.AudioStream:
    stream = container.add_stream("libopus", rate=AUDIO_RATE)
    stream.layout = "stereo"
    stream.format = "s16"
    stream.codec_context.time_base = Fraction(1, AUDIO_RATE)
    return stream


@dataclass
class _Session:
    container: av.container.OutputContainer
    video: av.VideoStream
    audio: av.AudioStream
    result: PublishResult


def _mux_video(session: _Session, frame: av.VideoFrame | None) -> None:
    for packet in session.video.encode(frame):
        session.container.mux(packet)
        session.result.video_packets_sent += 1
        if packet.is_keyframe:
            session.result.keyframes_sent += 1


def _mux_audio(session: _Session, frame: av.AudioFrame | None) -> None:
    for packet in session.audio.encode(frame):
        session.container.mux(packet)
        session.result.audio_packets_sent += 1


def _schedule(seconds: float, fps: int) -> Iterator[tuple[float, str, int]]:
    """(media time, kind, index) of every video and audio frame, in time order."""
    video_step = 1.0 / fps
    audio_step = AUDIO_FRAME_SAMPLES / AUDIO_RATE
    v = a = 0
    while True:
        tv, ta = v * video_step, a * audio_step
        if min(tv, ta) >= seconds:
            return
        if tv <= ta:
            yield tv, "video", v
            v += 1
        else:
            yield ta, "audio", a
            a += 1


def _stream(session: _Session, seconds: float, opts: PublishOptions, stop: threading.Event) -> None:
    painter = FramePainter(opts.width, opts.height)
    start = time.monotonic()
    for media_time, kind, index in _schedule(seconds, opts.fps):
        # Real-time pacing; Event.wait returns early (True) when asked to stop.
        if stop.wait(max(0.0, start + media_time - time.monotonic())):
            break
        if kind == "video":
            frame = painter.frame(index)
            frame.pts = index
            frame.time_base = Fraction(1, opts.fps)
            _mux_video(session, frame)
            session.result.frames_sent += 1
        else:
            _mux_audio(session, _tone_frame(index))
    _mux_video(session, None)
    _mux_audio(session, None)


def _format_log(entry: tuple[int, str, str]) -> str:
    level, name, message = entry
    return f"{level} {name}: {message.rstrip()}"


@contextlib.contextmanager
def _captured_ffmpeg_logs(level: int) -> Iterator[list[tuple[int, str, str]]]:
    """Capture this thread's FFmpeg logs at ``level`` (PyAV logs nothing by default)."""
    previous = av.logging.get_level()
    if previous is None or previous < level:
        av.logging.set_level(level)
    try:
        with av.logging.Capture(local=True) as logs:
            yield logs
    finally:
        av.logging.set_level(previous)


def _open(url: str, options: dict[str, str], opts: PublishOptions) -> _Session:
    container = av.open(url, "w", format="whip", options=options)
    assert isinstance(container, av.container.OutputContainer)
    return _Session(container, _add_video(container, opts), _add_audio(container), PublishResult())


def publish(
    url: str,
    token: str | None,
    seconds: float,
    *,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    gop_seconds: float = 2.0,
    cert_dir: Path,
    stop: threading.Event | None = None,
    handshake_timeout_ms: int = 10000,
    dtls_active: bool = False,
) -> PublishResult:
    """Publish ``seconds`` of synthetic media to the WHIP endpoint ``url``; blocks.

    Errors are reported in :attr:`PublishResult.error` rather than raised. Setting ``stop``
    ends the stream early (within one frame interval) and still closes the session.
    """
    opts = PublishOptions(
        width=width,
        height=height,
        fps=fps,
        gop_seconds=gop_seconds,
        handshake_timeout_ms=handshake_timeout_ms,
        dtls_active=dtls_active,
    )
    return _publish(url, muxer_options(token, cert_dir, opts), seconds, opts, stop)


def _publish(
    url: str,
    options: dict[str, str],
    seconds: float,
    opts: PublishOptions,
    stop: threading.Event | None,
) -> PublishResult:
    started = time.monotonic()
    result = PublishResult()
    with _captured_ffmpeg_logs(av.logging.VERBOSE) as logs:
        session: _Session | None = None
        try:
            # Streams must exist before the header is written, which av.open defers until
            # the first mux; the WHIP handshake therefore happens on the first packet.
            session = _open(url, options, opts)
            result = session.result
            session.container.start_encoding()
            result.connect_seconds = time.monotonic() - started
            _stream(session, seconds, opts, stop or threading.Event())
        except (av.FFmpegError, OSError, ValueError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.http_status = _http_status(result.error)
        finally:
            if session is not None:
                _close(session.container, result)
    result.wall_seconds = time.monotonic() - started
    result.deleted = any("Dispose resource" in message for _, _, message in logs)
    result.log_tail = [_format_log(entry) for entry in logs[-LOG_TAIL_LINES:]]
    return result


_HTTP_STATUS = re.compile(r"Server returned (\d{3})")


def _http_status(error: str) -> int | None:
    match = _HTTP_STATUS.search(error)
    return int(match.group(1)) if match else None


def _close(container: av.container.OutputContainer, result: PublishResult) -> None:
    try:
        container.close()  # writes the trailer: FFmpeg sends DELETE to the resource URL
    except (av.FFmpegError, OSError) as exc:
        if result.error is None:
            result.error = f"close: {type(exc).__name__}: {exc}"


# --- subprocess front end -----------------------------------------------------------------------


def command(
    url: str,
    token: str | None,
    seconds: float,
    cert_dir: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    """The argv that runs this module as a publisher subprocess."""
    argv = [sys.executable, "-m", "tests.clients.ffmpeg_whip", url, "--seconds", str(seconds)]
    argv += ["--cert-dir", str(cert_dir)]
    if token is not None:
        argv += ["--token", token]
    return argv + list(extra)


async def publish_subprocess(
    url: str,
    token: str | None,
    seconds: float,
    *,
    cert_dir: Path,
    extra: Sequence[str] = (),
    grace_seconds: float = 20.0,
    cwd: Path | None = None,
) -> PublishResult:
    """Run :func:`publish` in a child process; kill it if it outlives ``seconds + grace``, or
    if the caller is cancelled (a failing test must not leave a publisher behind)."""
    proc = await asyncio.create_subprocess_exec(
        *command(url, token, seconds, cert_dir, extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=seconds + grace_seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return PublishResult(error=f"publisher killed after {seconds + grace_seconds:.0f} s")
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return PublishResult.from_json(lines[-1])
    except (IndexError, ValueError, TypeError):
        tail = err.decode(errors="replace")[-2000:]
        return PublishResult(error=f"publisher exited {proc.returncode} without a result: {tail}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Publish synthetic media over WHIP (FFmpeg).")
    parser.add_argument("url")
    parser.add_argument("--token", default=None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cert-dir", type=Path, required=True)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--gop-seconds", type=float, default=2.0)
    parser.add_argument("--handshake-timeout-ms", type=int, default=10000)
    parser.add_argument("--dtls-active", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: prints the :class:`PublishResult` as one JSON line."""
    args = _parse_args(argv)
    stop = threading.Event()
    # SIGTERM/SIGINT end the stream cleanly, so the muxer still sends its DELETE.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    result = publish(
        args.url,
        args.token,
        args.seconds,
        width=args.width,
        height=args.height,
        fps=args.fps,
        gop_seconds=args.gop_seconds,
        cert_dir=args.cert_dir,
        stop=stop,
        handshake_timeout_ms=args.handshake_timeout_ms,
        dtls_active=args.dtls_active,
    )
    print(result.to_json(), flush=True)
    return 0 if result.error is None else 1


if __name__ == "__main__":
    sys.exit(main())

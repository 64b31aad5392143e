"""``directlive bench record``: CPU cost of recording one live, next to forwarding the same live.

One live's frames (VP8 640x480 30 fps ~1 Mbps + Opus 20 ms, pre-encoded once by
``benchmarks.media``) are pushed into the streamer's ``TrackSource``s exactly as the receiver
tap would, as fast as the consumers keep up, for ``--seconds`` of media. Two runs on the same
frames, each timed with process CPU time:

- ``forward``: ``--viewers`` viewer tracks, each draining its bounded queue and taking the RTP
  payloads (cut once per frame and shared), i.e. the SFU's per-live work up to aiortc's sender;
- ``record``: the ``Recorder`` remuxing both tracks into a WebM file on disk (no decoding).

Prints ONE JSON object: media seconds, CPU seconds of each run, each as a fraction of one core
per live (CPU seconds per second of media), and ``record_over_forward``. SRTP, UDP and ICE are
the same for both and not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.media import AUDIO_TICKS, VIDEO_TICKS, MediaLoop, encode_loop
from recorder import Recorder, RecorderConfig
from streamer.aiortc.packer import packetize
from streamer.source import TrackSource
from streamer.stats import ForwardingStats

Push = Callable[[TrackSource, TrackSource], None]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="directlive bench record")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of media per run")
    parser.add_argument("--viewers", type=int, default=1, help="viewers in the forward run")
    return parser


def _sources() -> tuple[TrackSource, TrackSource]:
    stats = ForwardingStats()
    video = TrackSource(
        track_id="bench-video", participant="host", kind="video", mime_type="video/VP8", stats=stats
    )
    audio = TrackSource(
        track_id="bench-audio",
        participant="host",
        kind="audio",
        mime_type="audio/opus",
        stats=stats,
    )
    return video, audio


async def _feed(loop: MediaLoop, seconds: float, video: TrackSource, audio: TrackSource) -> int:
    """Push ``seconds`` of the live in media order, letting consumers run after each frame."""
    frames = int(seconds * 30)
    audio_per_video = len(loop.audio) / len(loop.video)
    sent_audio = 0
    for index in range(frames):
        video.push(loop.video[index % len(loop.video)], index * VIDEO_TICKS)
        while sent_audio < (index + 1) * audio_per_video:
            audio.push(loop.audio[sent_audio % len(loop.audio)], sent_audio * AUDIO_TICKS)
            sent_audio += 1
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    return frames


async def _forward(loop: MediaLoop, seconds: float, viewers: int) -> dict[str, Any]:
    video, audio = _sources()
    tracks = [(s, s.subscribe()) for _ in range(viewers) for s in (video, audio)]
    taken = 0

    async def drain(source: TrackSource, track: Any) -> None:
        nonlocal taken
        while True:
            frame, _ = await track.recv()
            taken += len(packetize(source.mime_type, frame))

    tasks = [asyncio.ensure_future(drain(s, t)) for s, t in tracks]
    started = time.process_time()
    await _feed(loop, seconds, video, audio)
    cpu = time.process_time() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    dropped = sum(t.frames_dropped for _, t in tracks)
    return {"cpu_s": round(cpu, 4), "rtp_payloads": taken, "frames_dropped": dropped}


async def _record(loop: MediaLoop, seconds: float, directory: Path) -> dict[str, Any]:
    video, audio = _sources()
    recorder = Recorder(RecorderConfig(directory, min_free_bytes=0))
    recorder.start("bench")
    recorder.add_participant("bench", "host", [video, audio])
    started = time.process_time()
    await _feed(loop, seconds, video, audio)
    video.close()
    audio.close()
    report = await recorder.finish("bench")
    cpu = time.process_time() - started
    if report is None or report.failure is not None or len(report.files) != 1:
        raise RuntimeError(f"recording failed: {report}")
    [file] = report.files
    return {
        "cpu_s": round(cpu, 4),
        "file_bytes": file.size,
        "video_frames_written": file.video_frames,
        "audio_frames_written": file.audio_frames,
    }


async def _run(seconds: float, viewers: int) -> dict[str, Any]:
    loop = encode_loop("vp8", seconds=2.0, gop_seconds=2.0)
    forward = await _forward(loop, seconds, viewers)
    with tempfile.TemporaryDirectory(prefix="directlive-bench-") as scratch:
        record = await _record(loop, seconds, Path(scratch))
    for run in (forward, record):
        run["core_fraction_per_live"] = round(run["cpu_s"] / seconds, 5)
    return {
        "benchmark": "record",
        "media_seconds": seconds,
        "video": f"vp8 640x480 30fps {loop.video_kbps:.0f} kbps + opus",
        "viewers_in_forward_run": viewers,
        "forward": forward,
        "record": record,
        "record_over_forward": round(record["cpu_s"] / max(forward["cpu_s"], 1e-9), 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = asyncio.run(_run(args.seconds, args.viewers))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Layers on a shaped link: a viewer behind a 400 kbit/s tbf gets a lower layer and smooth
video, an unconstrained one keeps the top, and the same link is worse without layers.

Namespaces (built here, removed also on failure): ``srv`` holds the server, both publishers
and the unconstrained viewer; ``view`` and ``solo`` each hold one viewer, joined to ``srv``
by a veth pair whose ``srv`` side sends through ``tc qdisc ... tbf rate 400kbit`` (what the
viewer receives is limited; tbf drops what does not fit and queues a little). ``view``
watches the layered live and has its shaping lifted midway; ``solo`` watches a single-layer
live of the same top picture over the same kind of link at the same time.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.layered_media import LAYERS
from tests.net.conftest import Lab, first_json_line, token
from tests.net.netlab import NetLab

PORT = 8091
SRV_VIEW, VIEW = "10.77.1.1", "10.77.1.2"
SRV_SOLO, SOLO = "10.77.2.1", "10.77.2.2"
SHAPING = ("tbf", "rate", "400kbit", "burst", "6kb", "latency", "60ms")
SHAPED_SECONDS = 18.0
"""How long the layered viewer's link stays shaped after it starts watching."""
WATCH_SECONDS = 36.0
SOLO_SECONDS = 16.0
LOOP = 120
LAYER_OF_WIDTH = {width: layer for layer, (width, _, _) in enumerate(LAYERS)}


@dataclass
class Frames:
    frames: list[tuple[float, int, int, int | None]]
    decoder_errors: list[float]

    def between(self, start: float, end: float) -> list[tuple[float, int, int, int | None]]:
        return [f for f in self.frames if start <= f[0] < end]

    def fps(self, start: float, end: float) -> float:
        return len(self.between(start, end)) / (end - start)


def load(path: Path) -> Frames:
    result = json.loads(path.read_text())
    assert result["connected"], f"{path.name}: never connected"
    frames = [(float(t), int(w), int(h), c) for t, w, h, c in result["frames"]]
    return Frames(frames, [float(t) for t in result["decoder_errors"]])


class SendTimes:
    """When each counter value left a publisher on each layer (its log), to time frames end
    to end. Each layer skips ahead on its own keyframe requests, so a frame is timed
    against the sends of the layer it was decoded from (known by its width)."""

    def __init__(self, path: Path) -> None:
        self._times: dict[tuple[int, int], list[float]] = {}
        for line in path.read_text().splitlines():
            at, counter, layer = line.split()
            self._times.setdefault((int(layer), int(counter)), []).append(float(at))

    def latency(self, width: int, counter: int, received_at: float) -> float:
        layer = LAYER_OF_WIDTH[width]
        times = self._times.get((layer, counter), [])
        position = bisect.bisect_right(times, received_at)
        assert position, f"counter {counter} of layer {layer} was never sent before receipt"
        return received_at - times[position - 1]


def latencies(frames: list[tuple[float, int, int, int | None]], sent: SendTimes) -> list[float]:
    return [sent.latency(w, c, t) for t, w, _, c in frames if c is not None]


def steps_ok(frames: list[tuple[float, int, int, int | None]]) -> bool:
    """Counters increase (modulo the loop) within each run of one layer's frames. (Across a
    switch the new layer's keyframe may show a slightly earlier moment: the publisher's layer
    tracks are paced by separate aiortc senders, which drift apart a little under load.)"""
    runs: list[list[int]] = [[]]
    previous: tuple[int, int] | None = None
    for _, width, height, counter in frames:
        if (width, height) != previous and runs[-1]:
            runs.append([])
        previous = (width, height)
        if counter is not None:
            runs[-1].append(counter)
    return all(0 < (b - a) % LOOP <= LOOP // 2 for run in runs for a, b in itertools.pairwise(run))


def flowing_lower(frames: Frames, at: float) -> bool:
    """Whether ``at`` falls between two lower-layer frames decoded less than 0.3 s apart."""
    times = [f[0] for f in frames.frames]
    position = bisect.bisect_right(times, at)
    if position == 0 or position == len(times):
        return False
    before, after = frames.frames[position - 1], frames.frames[position]
    return before[1] < 640 and after[1] < 640 and after[0] - before[0] < 0.3


def report_of(errors: list[float]) -> str:
    return f"{len(errors)} frames failed to decode amid lower-layer frames"


@pytest.fixture
def shaped_lab(tmp_path: Path) -> Iterator[tuple[Lab, str, str]]:
    assert os.geteuid() == 0, "the network namespace tests run as root (as CI does)"
    assert shutil.which("tc"), "tc is missing: run scripts/system-deps.sh"
    lab = Lab(NetLab(), tmp_path)
    try:
        for role in ("srv", "view", "solo"):
            lab.net.namespace(role)
        view_if, _ = lab.net.link("srv", f"{SRV_VIEW}/30", "view", f"{VIEW}/30")
        solo_if, _ = lab.net.link("srv", f"{SRV_SOLO}/30", "solo", f"{SOLO}/30")
        yield lab, view_if, solo_if
    finally:
        lab.close()


def peer(lab: Lab, role: str, name: str, *args: str) -> None:
    lab.spawn(role, [sys.executable, "-m", "tests.clients.layer_peer", *args], name)


def test_a_shaped_viewer_gets_a_lower_layer_and_smooth_video(
    shaped_lab: tuple[Lab, str, str], tmp_path: Path
) -> None:
    lab, view_if, solo_if = shaped_lab
    server = lab.spawn(
        "srv",
        [
            sys.executable, "-m", "signaling.cli", "serve", "--host", "0.0.0.0",
            "--port", str(PORT), "--data-dir", str(tmp_path / "server"),
            "--ice-address", SRV_VIEW, "--ice-address", SRV_SOLO, "--media-workers", "1",
        ],
        "server.log",
    )  # fmt: skip
    lab.wait_for_log("server.log", "ready node=", server)
    base = f"http://{SRV_VIEW}:{PORT}"
    lives: dict[str, str] = {}
    for host, layers in (("alice", "3"), ("solo", "1")):
        log = str(tmp_path / f"sent-{host}.txt")
        args = ["--base", base, "--token", token(host), "--layers", layers, "--log", log]
        publisher = lab.spawn(
            "srv",
            [sys.executable, "-m", "tests.clients.layer_peer", "publish", *args],
            f"publish-{host}.log",
        )
        ready = first_json_line(publisher, tmp_path / f"publish-{host}.log", 60)
        assert ready.get("connected"), ready
        lives[host] = str(ready["live_id"])
    time.sleep(1.5)  # every layer's first keyframe in
    for interface in (view_if, solo_if):
        lab.net.run_in("srv", "tc", "qdisc", "add", "dev", interface, "root", *SHAPING)

    def watch(role: str, user: str, live: str, seconds: float) -> Path:
        out = tmp_path / f"watch-{role}.json"
        address = SRV_SOLO if role == "solo" else SRV_VIEW
        argv = ["--base", f"http://{address}:{PORT}", "--token", token(user), "--live-id", live]
        peer(lab, role, f"watch-{role}.log", "watch", *argv, "--seconds", str(seconds),
             "--out", str(out))  # fmt: skip
        return out

    outputs = {
        "srv": watch("srv", "bob", lives["alice"], WATCH_SECONDS),
        "view": watch("view", "carol", lives["alice"], WATCH_SECONDS),
        "solo": watch("solo", "dave", lives["solo"], SOLO_SECONDS),
    }
    started = time.monotonic()
    time.sleep(SHAPED_SECONDS)
    lab.net.run_in("srv", "tc", "qdisc", "del", "dev", view_if, "root")
    lifted = time.monotonic()
    deadline = started + WATCH_SECONDS + 20
    while not all(path.exists() for path in outputs.values()):
        assert time.monotonic() < deadline, "the viewers did not finish: " + ", ".join(
            lab.log(f"watch-{role}.log")[-300:] for role in outputs
        )
        time.sleep(0.2)

    sent = SendTimes(tmp_path / "sent-alice.txt")
    solo_sent = SendTimes(tmp_path / "sent-solo.txt")
    free, shaped, solo = (load(outputs[role]) for role in ("srv", "view", "solo"))
    for frames in (free, shaped):
        assert frames.frames, "a viewer decoded nothing"
        assert all(c is not None for *_, c in frames.frames), "a frame came out broken"
    assert free.decoder_errors == []
    switches = [
        (round(b[0] - shaped.frames[0][0], 2), b[1])
        for a, b in zip(shaped.frames, shaped.frames[1:], strict=False)
        if a[1] != b[1]
    ]

    # The unconstrained viewer stays on the top layer at full rate.
    first, last = free.frames[0][0], free.frames[-1][0]
    assert {(w, h) for _, w, h, _ in free.frames} == {(640, 480)}
    assert free.fps(first + 1, last) >= 27, free.fps(first + 1, last)
    assert steps_ok(free.frames)

    # The shaped one settles on a lower layer within 10 s, then plays smoothly.
    start = shaped.frames[0][0]
    lower = [t for t, w, _, _ in shaped.frames if w < 640 and t < lifted]
    assert lower, "the shaped viewer never left the top layer"
    assert lower[0] - start <= 10, lower[0] - start
    settled = next(
        (t for t, w, _, _ in shaped.frames if t >= lower[0] + 1 and w < 640), lower[0] + 1
    )
    # Switches never break decoding: no frame fails amid the lower layers' frames. (Before
    # the first switch, and while a probe tries the top layer, the link loses what it cannot
    # carry, and aiortc's receiver hands on frames missing packets: those fail, in a stall.)
    amid = [t for t in shaped.decoder_errors if t >= lower[0] and flowing_lower(shaped, t)]
    assert amid == [], report_of(amid)
    window = shaped.between(settled, lifted)
    fps = shaped.fps(settled, lifted)
    delays = latencies(window, sent)
    p95 = sorted(delays)[int(0.95 * (len(delays) - 1))]
    report = {
        "settled_after": round(lower[0] - start, 2),
        "fps": round(fps, 1),
        "median_ms": round(1000 * statistics.median(delays)),
        "p95_ms": round(1000 * p95),
        "sizes": sorted({(w, h) for _, w, h, _ in window}),
        "switches": switches,
        "lifted_at": round(lifted - start, 2),
    }
    assert fps >= 25, report
    assert steps_ok(window), report
    assert p95 < 0.5, report

    # Lifted: back on the top layer within 15 s.
    top_again = [t for t, w, _, _ in shaped.frames if t >= lifted and w == 640]
    assert top_again, report
    assert top_again[0] - lifted <= 15, (top_again[0] - lifted, report)

    # Without layers, the same shaped link does worse.
    solo_start = solo.frames[0][0] if solo.frames else shaped.frames[0][0]
    solo_end = solo_start + SOLO_SECONDS - 2
    solo_fps = solo.fps(solo_start + 1, solo_end)
    solo_delays = sorted(latencies(solo.between(solo_start + 1, solo_end), solo_sent)) or [9.9]
    solo_p95 = solo_delays[int(0.95 * (len(solo_delays) - 1))]
    print(json.dumps({"layered": report, "single_fps": solo_fps, "single_p95": solo_p95}))
    assert solo_fps < fps - 5 or solo_p95 > 0.5, (solo_fps, solo_p95, report)

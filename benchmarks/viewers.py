"""``directlive bench viewers``: one live, N viewers, the server's CPU per viewer-second.

One synthetic publisher (640x480, 30 fps, ~1 Mbps video pre-encoded once and looped, plus
Opus audio; PLI ignored, a keyframe every 2 s) publishes over WHIP to a real
``directlive serve`` subprocess pinned to one core; N aiortc viewers in ``--processes``
processes on the other core watch over WHEP and count frames through the receiver tap
(``streamer.aiortc.tap``, nothing decoded but one sample per process, checked against the frames'
CRCs). Latency is publisher send to viewer receipt (same monotonic clock, one machine),
each received frame identified by its bytes' CRC in the loop. With ``--baseline`` the same
load runs against aiortc's MediaRelay (``benchmarks.relay_server``) in the same invocation;
its frames are re-encoded, so they are identified by their RTP timestamps, anchored on one
decoded counter. ``--baseline janus`` runs it against Debian's janus instead
(``benchmarks.janus_server``: streaming plugin fed the loop as plain RTP, viewers through
its HTTP API), whose frames are the loop's bytes. ``--pairs N`` interleaves N (directlive,
baseline) runs (``benchmarks.pairs``). Prints ONE JSON object.
"""

from __future__ import annotations

import bisect
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks.clients import (
    CLIENT_ADDRESS_ENV,
    ViewerReport,
    publisher_worker,
    viewers_worker,
)
from benchmarks.common import Progress, emit, percentile, plot_panels
from benchmarks.harness import (
    Server,
    Worker,
    cores,
    cores_busy_seconds,
    free_udp_ports,
    pin_self,
    run_server,
    sample_process,
    spawn,
)
from benchmarks.janus_clients import janus_viewers_worker, rtp_publisher_worker
from benchmarks.janus_server import JanusServer, janus_available, run_janus
from benchmarks.layered_media import LAYERS, encode_layers
from benchmarks.media import FPS, VIDEO_TICKS, MediaLoop, encode_loop
from benchmarks.netns import Topology, inside, netns_unavailable, veth_topology
from benchmarks.pairs import summarize
from benchmarks.viewers_options import COMPARE_SETTLE_SECONDS, SETTLE_SECONDS, viewers_parser
from streamer.config import FAST_FORWARDING_ENV

DELIVERY_SLACK = 1.0
"""Frames sent in the window's last second may still be in flight when it closes."""


@dataclass
class Window:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _frame_numbers(report: ViewerReport, sent: list[float], loop: MediaLoop) -> list[int | None]:
    """The publisher's frame number of each frame this viewer received."""
    receipts, size = report.receipts, len(loop.video)

    def latest(index: int, at: float) -> int | None:
        """The last frame number showing loop ``index`` that was sent by ``at``."""
        last = bisect.bisect_right(sent, at) - 1
        return None if last < index else last - (last - index) % size

    if report.anchor is None:
        crc_index = loop.crc_index()
        return [
            None if (index := crc_index.get(crc)) is None else latest(index, at)
            for crc, at in zip(receipts.crcs, receipts.times, strict=True)
        ]
    position, counter = report.anchor
    base = latest(counter, receipts.times[position])
    if base is None:
        return [None] * len(receipts.times)
    origin = receipts.timestamps[position]
    numbers: list[int | None] = []
    for timestamp in receipts.timestamps:
        number = base + round((timestamp - origin) / VIDEO_TICKS)
        numbers.append(number if 0 <= number < len(sent) else None)
    return numbers


def analyse(
    reports: list[ViewerReport], sent: list[float], loop: MediaLoop, window: Window
) -> dict[str, Any]:
    """Frame rate, loss and latency of every viewer over ``window``."""
    expected = [k for k, at in enumerate(sent) if window.start <= at <= window.end - DELIVERY_SLACK]
    rates: list[float] = []
    latencies: list[float] = []
    missing = 0
    delivered = 0
    for report in reports:
        numbers = _frame_numbers(report, sent, loop)
        got = {n for n in numbers if n is not None}
        missing += sum(1 for k in expected if k not in got)
        in_window = 0
        for number, at in zip(numbers, report.receipts.times, strict=True):
            if window.start <= at <= window.end:
                in_window += 1
                if number is not None:
                    latencies.append(at - sent[number])
        delivered += in_window
        rates.append(in_window / window.seconds)
    total = len(expected) * len(reports)
    return {
        "fps_min": round(min(rates), 2) if rates else 0.0,
        "fps_mean": round(statistics.fmean(rates), 2) if rates else 0.0,
        "loss": round(missing / total, 5) if total else None,
        "latency_ms_p50": _ms(percentile(latencies, 0.5)),
        "latency_ms_p99": _ms(percentile(latencies, 0.99)),
        "frames_delivered": delivered,
    }


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 1)


def run_load(
    kind: str,
    loop: MediaLoop,
    viewers: int,
    seconds: float,
    processes: int,
    args: Any,
    fast_forwarding: bool = True,
    udp_port: int | None = None,
) -> dict[str, Any]:
    """One server of ``kind`` under the full load; its figures."""
    server_core, load_cores = cores()
    workers: list[Worker] = []
    publisher: Worker | None = None
    with _server(kind, server_core, loop, args, fast_forwarding, udp_port) as server:
        try:
            publisher = _publisher(server, loop, getattr(args, "lower_layers", None))
            live_id = publisher.receive(60, "the publisher going live")[1]
            # MediaRelay re-encodes: its frames are not the loop's bytes.
            crc_index = None if kind == "relay" else loop.crc_index()
            users = [f"viewer{i}" for i in range(viewers)]
            shares = [users[i::processes] for i in range(processes)]
            workers = [
                spawn(
                    janus_viewers_worker if isinstance(server, JanusServer) else viewers_worker,
                    server.url,
                    server.mountpoint if isinstance(server, JanusServer) else live_id,
                    share,
                    loop.codec,
                    crc_index,
                    args.join_concurrency,
                    args.viewer == "lean",
                )
                for share in shares
                if share
            ]
            with Progress(f"{kind}: joining", viewers, args.progress) as progress:
                for worker in workers:
                    progress.advance(worker.receive(90 + viewers, "viewers joining")[1])
            time.sleep(args.settle)
            load = [publisher, *workers]
            before = sample_process(server.pid)
            load_before = _load_cpu_seconds(load)
            busy_before = (
                time.monotonic(),
                cores_busy_seconds(server_core),
                cores_busy_seconds(load_cores),
            )
            start = time.monotonic()
            with Progress(f"{kind}: measuring", round(seconds), args.progress) as progress:
                while (elapsed := time.monotonic() - start) < seconds:
                    progress.update(round(elapsed))
                    time.sleep(min(0.2, seconds - elapsed))
            end = time.monotonic()
            after = sample_process(server.pid)
            load_cpu_ms = (_load_cpu_seconds(load) - load_before) * 1000
            # Over its own interval: sampling the load's processes can take a while.
            busy_seconds = time.monotonic() - busy_before[0]
            busy = (
                (cores_busy_seconds(server_core) - busy_before[1]) / busy_seconds,
                (cores_busy_seconds(load_cores) - busy_before[2]) / busy_seconds,
            )
            reports: list[ViewerReport] = []
            for worker in workers:
                worker.stop()
            for worker in workers:
                reports.extend(worker.receive(120, "viewer reports")[1])
            publisher.stop()
            _, sent, keyframe_requests = publisher.receive(30, "the publisher's log")
        finally:
            for worker in [*workers, *([] if publisher is None else [publisher])]:
                worker.stop()
                worker.join()
    window = Window(start, end)
    cpu_ms = (after.cpu_seconds - before.cpu_seconds) * 1000
    figures = analyse(reports, sent, loop, window)
    samples = [r.sample_ok for r in reports if r.sample_ok is not None]
    return {
        "server": kind,
        **({"forwarding": "fast" if fast_forwarding else "aiortc"} if kind == "directlive" else {}),
        **({"udp_port": udp_port} if kind == "directlive" else {}),
        "viewers": viewers,
        "server_cpu_ms_per_viewer_s": round(cpu_ms / (viewers * window.seconds), 3),
        **{k: v for k, v in figures.items() if k != "frames_delivered"},
        "server_rss_mb": round(after.rss_mb, 1),
        "server_processes": after.processes,
        "server_cpu_main_process_share": round(
            (after.main_cpu_seconds - before.main_cpu_seconds) * 1000 / cpu_ms, 2
        )
        if cpu_ms > 0
        else None,
        "server_cpu_percent_of_core": round(cpu_ms / 10 / window.seconds, 1),
        "server_cpu_system_share": round(
            (after.system_seconds - before.system_seconds) * 1000 / cpu_ms, 2
        )
        if cpu_ms > 0
        else None,
        "server_cpu_ms_per_frame_delivered": round(cpu_ms / max(1, figures["frames_delivered"]), 4),
        "load_cpu_percent_of_core": round(load_cpu_ms / 10 / window.seconds, 1),
        "server_core_busy_percent": round(busy[0] * 100, 1),
        "load_cores_busy_percent": round(busy[1] * 100 / len(load_cores), 1),
        "samples_decoded_ok": all(samples) if samples else None,
        "publisher_keyframe_requests": keyframe_requests,
        "viewers_without_audio": sum(1 for r in reports if r.receipts.audio == 0),
    }


@contextmanager
def _server(
    kind: str,
    core: set[int],
    loop: MediaLoop,
    args: Any,
    fast_forwarding: bool,
    udp_port: int | None = None,
) -> Iterator[Server]:
    topology: Topology | None = args.network
    if kind == "janus":
        with run_janus(core, loop.codec, topology=topology) as janus:
            yield janus
        return
    env = {FAST_FORWARDING_ENV: "1" if fast_forwarding else "0"}
    extra = () if udp_port is None else ("--udp-port", str(udp_port))
    with run_server(
        kind, core, extra=extra, env=env, media_workers=args.workers, topology=topology
    ) as server:
        yield server


def _publisher(
    server: Server, loop: MediaLoop, lower_layers: list[list[bytes]] | None = None
) -> Worker:
    """The loop's publisher: plain RTP into Janus's mountpoint, WHIP into the others (with
    ``lower_layers`` below the loop, as layers of one picture)."""
    if isinstance(server, JanusServer):
        return spawn(
            rtp_publisher_worker, server.address, server.video_port, server.audio_port, loop
        )
    return spawn(publisher_worker, server.url, loop, False, lower_layers)


def _load_cpu_seconds(load: list[Worker]) -> float:
    """CPU time of the load generator's processes (publisher and viewers) so far."""
    return sum(sample_process(worker.process.pid or 0).cpu_seconds for worker in load)


def main(argv: list[str] | None = None) -> int:
    args = viewers_parser(__doc__).parse_args(argv)
    if args.viewers < 1 or args.seconds < 2 or args.pairs < 1:
        print("--viewers and --pairs must be >= 1, --seconds >= 2", file=sys.stderr)
        return 2
    if args.server != "directlive" and (args.baseline or args.forwarding != "fast"):
        print("--server janus|relay runs alone: no --baseline, no --forwarding", file=sys.stderr)
        return 2
    if "janus" in (args.baseline, args.server) and (reason := janus_available()) is not None:
        print(f"janus: {reason}", file=sys.stderr)
        return 2
    if args.settle is None:
        args.settle = COMPARE_SETTLE_SECONDS if args.compare_single_port else SETTLE_SECONDS
    if (args.compare_single_port or args.per_connection_ports) and args.udp_port is not None:
        print(
            "--compare-single-port and --per-connection-ports pick the ports: drop --udp-port",
            file=sys.stderr,
        )
        return 2
    if args.udp_port is None and not (args.compare_single_port or args.per_connection_ports):
        # One socket per server process (sendmmsg to all of a worker's viewers): the
        # cheaper path, so the default.
        args.udp_port = free_udp_ports(1 + args.workers)
    if args.layers > 1 and args.codec != "vp8":
        print("--layers needs --codec vp8", file=sys.stderr)
        return 2
    relay = "relay" in (args.baseline, args.server)
    if args.topology is None:
        args.topology = "loopback"
    if args.topology == "netns" and (relay or (reason := netns_unavailable()) is not None):
        why = "MediaRelay runs on loopback only" if relay else reason
        print(f"--topology netns: {why}", file=sys.stderr)
        return 2
    server_cores, load_cores = cores()
    pin_self(load_cores)
    with ExitStack() as stack:
        args.network = None
        if args.topology == "netns":
            args.network = stack.enter_context(veth_topology(server_cores, load_cores))
            stack.enter_context(inside(args.network.load_namespace))
            os.environ[CLIENT_ADDRESS_ENV] = args.network.load_address
            stack.callback(os.environ.pop, CLIENT_ADDRESS_ENV, None)
        result = _run(args)
    emit(result)
    if args.plot:
        _plot(args.plot, result)
    return 0


def _run(args: Any) -> dict[str, Any]:
    """Every run ``args`` ask for, in the topology already set up; the JSON's content."""
    processes = args.processes or max(1, min(8, math.ceil(args.viewers / 20)))
    loop = encode_loop(args.codec)
    load = (args.viewers, args.seconds, processes, args)
    fast = args.forwarding != "aiortc"
    first = run_load(args.server, loop, *load, fast_forwarding=fast, udp_port=args.udp_port)
    result: dict[str, Any] = {
        "benchmark": "viewers",
        "codec": args.codec,
        "seconds": args.seconds,
        "video_kbps": round(loop.video_kbps),
        "viewer_processes": processes,
        "media_workers": args.workers,
        "viewer_kind": args.viewer,
        "topology": args.topology,
        "settle_seconds": args.settle,
        **first,
    }
    if args.compare_single_port:
        single = run_load(
            "directlive",
            loop,
            args.viewers,
            args.seconds,
            processes,
            args,
            fast_forwarding=args.forwarding != "aiortc",
            udp_port=free_udp_ports(1 + args.workers),
        )
        result["single_port"] = single
        result["ratio_single_port_over_per_connection_cpu_per_viewer_s"] = _ratio(
            single["server_cpu_ms_per_viewer_s"], result["server_cpu_ms_per_viewer_s"], digits=3
        )
    if args.layers > 1:
        lower = encode_layers(
            LAYERS[1 : args.layers], seconds=len(loop.video) / FPS, gop_seconds=loop.gop / FPS
        )
        args.lower_layers = [layer.deltas for layer in lower]
        # The same sockets as the single-layer run (the shared port unless told otherwise).
        layered = run_load("directlive", loop, *load, fast_forwarding=fast, udp_port=args.udp_port)
        args.lower_layers = None
        result["layered"] = {"layers": args.layers, **layered}
        result["ratio_layered_over_single_cpu_per_viewer_s"] = _ratio(
            layered["server_cpu_ms_per_viewer_s"], result["server_cpu_ms_per_viewer_s"], digits=3
        )
    if args.forwarding == "both":
        aiortc = run_load("directlive", loop, *load, fast_forwarding=False)
        result["aiortc"] = aiortc
        result["ratio_aiortc_over_fast_cpu_per_viewer_s"] = _ratio(
            aiortc["server_cpu_ms_per_viewer_s"], result["server_cpu_ms_per_viewer_s"]
        )
    if args.baseline:
        pairs = [(first, run_load(args.baseline, loop, *load))]
        for _ in range(1, args.pairs):
            ours = run_load("directlive", loop, *load, fast_forwarding=fast, udp_port=args.udp_port)
            pairs.append((ours, run_load(args.baseline, loop, *load)))
        result.update(summarize(args.baseline, pairs))
    return result


def _ratio(baseline: float, ours: float, digits: int = 1) -> float | None:
    return round(baseline / ours, digits) if ours > 0 else None


def _plot(path: Any, result: dict[str, Any]) -> None:
    names = {"relay": "MediaRelay", "janus": "Janus"}
    runs = {
        "directlive": result,
        **({names[result["baseline_server"]]: result["baseline"]} if "baseline" in result else {}),
    }
    panels = {
        "server CPU ms / viewer-second": {
            name: run["server_cpu_ms_per_viewer_s"] for name, run in runs.items()
        },
        "fps (min / mean)": {
            f"{name} {stat}": run[f"fps_{stat}"]
            for name, run in runs.items()
            for stat in ("min", "mean")
        },
        "latency ms (p50 / p99)": {
            f"{name} {p}": run[f"latency_ms_{p}"] or 0.0
            for name, run in runs.items()
            for p in ("p50", "p99")
        },
    }
    plot_panels(
        path, f"{result['viewers']} viewers, {result['codec']}, {result['seconds']} s", panels
    )


if __name__ == "__main__":
    raise SystemExit(main())

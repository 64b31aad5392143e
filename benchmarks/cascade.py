"""``directlive bench cascade``: one live across two nodes, each frame crossing once.

A redis-server and two real ``directlive serve`` nodes on it (``origin`` and ``edge``, both
pinned to the server core, their CPU read separately from ``/proc``). The looped publisher of
``bench viewers`` goes live on the origin. Three phases, each with fresh lean viewers on the
load cores, all against the same live:

1. ``--low`` viewers watch on the edge (the edge pulls the live over one relay link);
2. ``--high`` viewers watch on the edge (the origin's work should not change: one link);
3. ``--high`` viewers watch on the origin directly (a single node, the reference).

Figures: the origin's CPU in phase 2 over phase 1 (flat: each frame goes to the edge once,
whatever its viewers), the edge's CPU per viewer-second in phase 2 over the origin's in
phase 3 (an edge serves viewers as cheaply as the node they would otherwise load), and the
extra latency of the hop (p50 in phase 2 minus p50 in phase 3) against one frame interval.
Prints ONE JSON object.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from benchmarks.clients import ViewerReport, publisher_worker, viewers_worker
from benchmarks.common import Progress, add_common_arguments, emit, plot_panels
from benchmarks.harness import (
    Server,
    Worker,
    cores,
    pin_self,
    run_server,
    sample_process,
    spawn,
)
from benchmarks.media import encode_loop
from benchmarks.viewers import Window, analyse
from fanout.redis_launcher import redis_server

FRAME_INTERVAL_MS = 1000 / 30
"""The loop's frame interval (30 fps)."""
SETTLE_SECONDS = 1.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="directlive bench cascade", description=__doc__)
    parser.add_argument("--low", type=int, default=10, help="edge viewers in phase 1")
    parser.add_argument("--high", type=int, default=100, help="viewers in phases 2 and 3")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per phase")
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--workers", type=int, default=1, help="--media-workers of each node")
    parser.add_argument("--processes", type=int, default=0, help="viewer processes (0: auto)")
    parser.add_argument("--join-concurrency", type=int, default=8, help="per viewer process")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS)
    add_common_arguments(parser)
    return parser


@contextmanager
def _node(core: set[int], redis_url: str, node_id: str, workers: int) -> Iterator[Server]:
    extra = ("--redis", redis_url, "--node-id", node_id)
    with run_server("directlive", core, extra=extra, media_workers=workers) as server:
        yield server


def _phase(
    name: str,
    node: Server,
    measured: dict[str, Server],
    live_id: str,
    viewers: int,
    args: Any,
    crc_index: dict[int, int],
    codec: str,
) -> tuple[dict[str, Any], list[ViewerReport], Window]:
    """``viewers`` watch on ``node``; CPU of every ``measured`` node over the window."""
    processes = args.processes or max(1, min(8, math.ceil(viewers / 20)))
    users = [f"{name}{i}" for i in range(viewers)]
    shares = [users[i::processes] for i in range(processes)]
    workers: list[Worker] = [
        spawn(
            viewers_worker,
            node.url,
            live_id,
            share,
            codec,
            crc_index,
            args.join_concurrency,
            True,
        )
        for share in shares
        if share
    ]
    reports: list[ViewerReport] = []
    try:
        with Progress(f"{name}: joining", viewers, args.progress) as progress:
            for worker in workers:
                progress.advance(worker.receive(90 + viewers, "viewers joining")[1])
        time.sleep(args.settle)
        before = {key: sample_process(server.pid) for key, server in measured.items()}
        start = time.monotonic()
        with Progress(f"{name}: measuring", round(args.seconds), args.progress) as progress:
            while (elapsed := time.monotonic() - start) < args.seconds:
                progress.update(round(elapsed))
                time.sleep(min(0.2, args.seconds - elapsed))
        end = time.monotonic()
        after = {key: sample_process(server.pid) for key, server in measured.items()}
        for worker in workers:
            worker.stop()
        for worker in workers:
            reports.extend(worker.receive(120, "viewer reports")[1])
    finally:
        for worker in workers:
            worker.stop()
            worker.join()
    window = Window(start, end)
    figures: dict[str, Any] = {"viewers": viewers, "watching_on": name.split("_")[0]}
    for key in measured:
        cpu_ms = (after[key].cpu_seconds - before[key].cpu_seconds) * 1000
        figures[f"{key}_cpu_percent_of_core"] = round(cpu_ms / 10 / window.seconds, 1)
        figures[f"{key}_cpu_ms_per_viewer_s"] = round(cpu_ms / (viewers * window.seconds), 3)
    return figures, reports, window


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.low < 1 or args.high < args.low or args.seconds < 2:
        print("need 1 <= --low <= --high and --seconds >= 2", file=sys.stderr)
        return 2
    server_core, load_cores = cores()
    pin_self(load_cores)
    loop = encode_loop(args.codec)
    crc_index = loop.crc_index()
    phases: dict[str, tuple[dict[str, Any], list[ViewerReport], Window]] = {}
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server())
        origin = stack.enter_context(_node(server_core, redis.url, "origin", args.workers))
        edge = stack.enter_context(_node(server_core, redis.url, "edge", args.workers))
        nodes = {"origin": origin, "edge": edge}
        publisher = spawn(publisher_worker, origin.url, loop, False)
        try:
            live_id = publisher.receive(60, "the publisher going live")[1]
            for name, node, viewers in (
                ("edge_low", edge, args.low),
                ("edge_high", edge, args.high),
                ("origin_high", origin, args.high),
            ):
                phases[name] = _phase(
                    name, node, nodes, live_id, viewers, args, crc_index, loop.codec
                )
            publisher.stop()
            _, sent, _ = publisher.receive(30, "the publisher's log")
        finally:
            publisher.stop()
            publisher.join()
    result: dict[str, Any] = {
        "benchmark": "cascade",
        "codec": args.codec,
        "seconds": args.seconds,
        "media_workers": args.workers,
        "frame_interval_ms": round(FRAME_INTERVAL_MS, 1),
    }
    for name, (figures, reports, window) in phases.items():
        result[name] = {**figures, **analyse(reports, sent, loop, window)}
    low, high, single = result["edge_low"], result["edge_high"], result["origin_high"]
    result["ratio_origin_cpu_high_over_low_edge_viewers"] = _ratio(
        high["origin_cpu_percent_of_core"], low["origin_cpu_percent_of_core"]
    )
    result["ratio_edge_over_single_node_cpu_per_viewer_s"] = _ratio(
        high["edge_cpu_ms_per_viewer_s"], single["origin_cpu_ms_per_viewer_s"]
    )
    # The single node also takes the publisher in (what it spends in edge_low, where it serves
    # no viewer of its own: ingest plus one link); the edge does not.
    serving = single["origin_cpu_percent_of_core"] - low["origin_cpu_percent_of_core"]
    result["ratio_edge_over_single_node_cpu_per_viewer_s_ingest_aside"] = _ratio(
        high["edge_cpu_ms_per_viewer_s"], serving * 10 / args.high
    )
    if high["latency_ms_p50"] is not None and single["latency_ms_p50"] is not None:
        result["extra_latency_ms_per_hop_p50"] = round(
            high["latency_ms_p50"] - single["latency_ms_p50"], 1
        )
    emit(result)
    if args.plot:
        _plot(args.plot, result)
    return 0


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 else None


def _plot(path: Any, result: dict[str, Any]) -> None:
    phases = {name: result[name] for name in ("edge_low", "edge_high", "origin_high")}
    panels = {
        "origin CPU % of a core": {
            name: phase["origin_cpu_percent_of_core"] for name, phase in phases.items()
        },
        "serving node CPU ms / viewer-second": {
            name: phase[f"{phase['watching_on']}_cpu_ms_per_viewer_s"]
            for name, phase in phases.items()
        },
        "latency ms p50": {name: phase["latency_ms_p50"] or 0.0 for name, phase in phases.items()},
    }
    plot_panels(path, f"cascade, {result['codec']}, {result['seconds']} s per phase", panels)


if __name__ == "__main__":
    raise SystemExit(main())

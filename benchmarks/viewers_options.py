"""``directlive bench viewers``'s options (the benchmark itself: ``benchmarks/viewers.py``)."""

from __future__ import annotations

import argparse

from benchmarks.common import add_common_arguments

SETTLE_SECONDS = 1.0
"""Between the last viewer connecting and the start of the measured window (``--settle``)."""
COMPARE_SETTLE_SECONDS = 5.0


def viewers_parser(description: str | None) -> argparse.ArgumentParser:
    """The command line of ``directlive bench viewers``."""
    parser = argparse.ArgumentParser(prog="directlive bench viewers", description=description)
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument(
        "--baseline",
        nargs="?",
        const="relay",
        choices=("relay", "janus"),
        help="also run the same load against a baseline server: relay (the default when "
        "given alone: aiortc's MediaRelay) or janus (Debian's janus, streaming plugin)",
    )
    parser.add_argument(
        "--server",
        choices=("directlive", "janus", "relay"),
        default="directlive",
        help="the server under test; janus or relay alone shows what the load generator "
        "can drive against a server that is not the bottleneck",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=1,
        help="with --baseline: N interleaved (directlive, baseline) runs, each reported, "
        "ratios as the median over pairs",
    )
    parser.add_argument("--processes", type=int, default=0, help="viewer processes (0: auto)")
    parser.add_argument(
        "--layers",
        type=int,
        choices=(1, 2, 3),
        default=1,
        help="with 2 or 3, the same load runs again with the publisher sending that many "
        "layers (the loop on top; 320x240 and 160x120 below) in the same invocation; "
        "reports the layered run and its CPU per viewer-second over the single-layer one's",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="the server's media worker processes (--media-workers; 0: viewers in its main "
        "process); CPU is summed over the server and its workers",
    )
    parser.add_argument("--join-concurrency", type=int, default=8, help="per viewer process")
    parser.add_argument(
        "--viewer",
        choices=("lean", "tap"),
        default="lean",
        help="lean: aiortc ICE/DTLS/SRTP, own frame reassembly (default); tap: aiortc's "
        "full receiver with the streamer.aiortc.tap hook (heavier: the load core saturates first)",
    )
    parser.add_argument(
        "--forwarding",
        choices=("fast", "aiortc", "both"),
        default="fast",
        help="fast: streamer.forwarding (default); aiortc: aiortc's per-packet sender loop "
        "(DIRECTLIVE_FAST_FORWARDING=0); both: run aiortc as well, reported under 'aiortc'",
    )
    parser.add_argument(
        "--udp-port",
        type=int,
        metavar="BASE",
        help="run the server with --udp-port BASE (one UDP socket per server process; the "
        "default picks free ports)",
    )
    parser.add_argument(
        "--per-connection-ports",
        action="store_true",
        help="run the server without --udp-port: one UDP socket per peer connection",
    )
    parser.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help=f"wait between the last viewer joining and the measured window (default "
        f"{SETTLE_SECONDS:g}, {COMPARE_SETTLE_SECONDS:g} with --compare-single-port: joins "
        "that finish in a burst, as with --udp-port, leave a longer backlog)",
    )
    parser.add_argument(
        "--compare-single-port",
        action="store_true",
        help="run per-connection sockets, then --udp-port on free ports, under the same load; "
        "the second is reported under 'single_port'",
    )
    parser.add_argument(
        "--topology",
        choices=("netns", "loopback"),
        help="loopback (the default): all on 127.0.0.1, the viewers' receive path charged to "
        "the server's sends; netns (root and ip; not against MediaRelay): the server "
        "and the load in two network namespaces joined by a veth pair, the viewers' receive "
        "path on the load cores as on other hosts",
    )
    add_common_arguments(parser)
    return parser

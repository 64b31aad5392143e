"""``directlive bench comments --viewers N --rate R``: live comments fanned out to N sockets.

A real server runs pinned to one core. This process, pinned to the other, publishes a small
audio-only live, opens N signaling sockets that join its room, and posts R comments per
second in total (round-robin over the viewers), each carrying its send time. Every socket
records when each comment arrives: delivered messages per second and delivery latency
percentiles are measured at the receiving sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from benchmarks.common import Progress, add_common_arguments, emit, percentile, plot_panels
from benchmarks.harness import cores, pin_self, run_server, sample_process, token
from fanout.redis_launcher import redis_server
from streamer import LOOPBACK, new_peer_connection


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="directlive bench comments", description=__doc__)
    parser.add_argument("--viewers", type=int, default=200, help="room sockets")
    parser.add_argument("--rate", type=float, default=20.0, help="comments per second, in all")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to comment")
    parser.add_argument(
        "--redis",
        action="store_true",
        help="run the server on a throwaway redis-server: room events go through its Pub/Sub",
    )
    add_common_arguments(parser)
    return parser


class Receiver:
    """One viewer's socket: counts comments and their latency."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.latencies: list[float] = []
        self.closed_by_server = False

    async def read(self) -> None:
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            if message.get("type") == "comment.new":
                sent = float(str(message["text"]).split(" ", 1)[0])
                self.latencies.append(time.monotonic() - sent)
        self.closed_by_server = self.ws.close_code not in (None, 1000)


async def _socket(http: aiohttp.ClientSession, base: str, user: str, live_id: str) -> Receiver:
    headers = {"Authorization": f"Bearer {token(user)}"}
    ws = await http.ws_connect(f"{base}/ws", headers=headers, max_msg_size=0)
    await ws.receive_json(timeout=10)  # hello
    await ws.send_json({"type": "room.join", "live_id": live_id, "id": 1})
    reply = await ws.receive_json(timeout=10)
    if reply.get("type") != "room.joined":
        raise RuntimeError(f"{user} could not join the room: {reply}")
    return Receiver(ws)


async def _go_live(http: aiohttp.ClientSession, base: str) -> tuple[str, RTCPeerConnection]:
    pc = new_peer_connection(LOOPBACK)
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None
    headers = {"Authorization": f"Bearer {token('host')}", "Content-Type": "application/sdp"}
    async with http.post(f"{base}/whip", data=pc.localDescription.sdp, headers=headers) as r:
        if r.status != 201:
            raise RuntimeError(f"could not go live: {r.status} {await r.text()}")
        answer, live_id = await r.text(), r.headers["Location"].rsplit("/", 1)[1]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return live_id, pc


async def _run(base: str, server_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    # Each socket holds a connection: aiohttp's default pool of 100 would stall the 101st.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        live_id, pc = await _go_live(http, base)
        receivers = await asyncio.gather(
            *(_socket(http, base, f"viewer{i}", live_id) for i in range(args.viewers))
        )
        readers = [asyncio.ensure_future(r.read()) for r in receivers]
        total = int(args.rate * args.seconds)
        cpu_before, started = sample_process(server_pid), time.monotonic()
        with Progress("comments", total, args.progress) as progress:
            for n in range(total):
                await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
                sender = receivers[n % len(receivers)].ws
                await sender.send_json(
                    {"type": "comment", "live_id": live_id, "text": f"{time.monotonic()} #{n}"}
                )
                progress.advance()
        expected = total * len(receivers)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sum(len(r.latencies) for r in receivers) >= expected:
                break
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        cpu_after = sample_process(server_pid)
        for receiver in receivers:
            await receiver.ws.close()
        for reader in readers:
            reader.cancel()
        await pc.close()
    latencies = [lat for r in receivers for lat in r.latencies]
    server_cpu = cpu_after.cpu_seconds - cpu_before.cpu_seconds
    return {
        "benchmark": "comments",
        "viewers": args.viewers,
        "rate": args.rate,
        "seconds": round(elapsed, 3),
        "comments_sent": total,
        "expected_deliveries": expected,
        "deliveries": len(latencies),
        "delivered_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms_p50": round(percentile(latencies, 0.5) * 1000, 2),
        "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 2),
        "dropped_sockets": sum(r.closed_by_server for r in receivers),
        "server_cpu_percent": round(100 * server_cpu / elapsed, 1),
        "server_rss_mb": round(cpu_after.rss_mb, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.viewers < 1 or args.rate <= 0 or args.seconds <= 0:
        print("directlive: --viewers, --rate and --seconds must be positive", file=sys.stderr)
        return 2
    server_core, load_core = cores()
    pin_self(load_core)
    per_user = int(args.rate * 10 / args.viewers) + 10
    extra: tuple[str, ...] = ("--comments-per-10s", str(per_user))
    with contextlib.ExitStack() as stack:
        if args.redis:
            extra += ("--redis", stack.enter_context(redis_server()).url)
        server = stack.enter_context(run_server("directlive", server_core, extra=extra))
        result = asyncio.run(_run(server.url, server.pid, args))
    result["store"] = "redis" if args.redis else "memory"
    if args.plot is not None:
        plot_panels(
            args.plot,
            f"comments to {args.viewers} sockets at {args.rate:g}/s",
            {
                "delivery latency (ms)": {
                    "p50": result["latency_ms_p50"],
                    "p99": result["latency_ms_p99"],
                },
                "delivered per second": {"delivered": result["delivered_per_s"]},
            },
        )
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``directlive bench join``: time to first decoded frame for viewers joining a running live.

A real ``directlive serve`` subprocess (pinned to one core) carries one live from a looping
pre-encoded publisher (keyframe every 2 s). Viewers join one after another, ``--gap``
seconds apart so they land at different points of the GOP; each is an aiortc peer that
decodes, and its time runs from creating its offer to its first decoded picture (the offer
includes gathering its candidates; the socket is connected beforehand, as an app's is).
Each viewer leaves once it has its picture. Three rounds, each with a fresh server and
publisher: ``whep`` (POST /whep), ``socket`` (``watch`` on /ws), both with a publisher that
answers PLI with a keyframe, and ``whep_no_pli`` whose publisher ignores PLI, like FFmpeg's
WHIP muxer. Prints ONE JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import av
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from benchmarks.clients import NotReady, client_pc, publisher_worker, whep_exchange
from benchmarks.common import Progress, add_common_arguments, emit, plot_panels, summary_ms
from benchmarks.harness import cores, pin_self, run_server, spawn, token
from benchmarks.media import MediaLoop, encode_loop

Exchange = Callable[[str], Awaitable[str]]
ROUNDS = (("whep", True), ("socket", True), ("whep_no_pli", False))
"""(name, publisher answers PLI)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="directlive bench join", description=__doc__)
    parser.add_argument("--viewers", type=int, default=20, help="viewers per round")
    parser.add_argument("--gap", type=float, default=0.37, help="seconds between joins")
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    add_common_arguments(parser)
    return parser


class FirstFrameViewer:
    """An aiortc viewer that notes when its first video picture is decoded."""

    def __init__(self) -> None:
        self.pc = client_pc()
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.first_picture = asyncio.get_running_loop().create_future()
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame) and not self.first_picture.done():
                    self.first_picture.set_result(time.monotonic())
        except MediaStreamError:
            pass

    async def time_to_first_frame(self, exchange: Exchange, timeout: float) -> float:
        started = time.monotonic()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        assert self.pc.localDescription is not None
        answer = await exchange(self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        first: float = await asyncio.wait_for(self.first_picture, timeout)
        return first - started

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _socket_exchange(
    http: aiohttp.ClientSession, base: str, live_id: str, user: str
) -> tuple[aiohttp.ClientWebSocketResponse, Exchange]:
    headers = {"Authorization": f"Bearer {token(user)}"}
    ws = await http.ws_connect(f"{base}/ws", headers=headers)
    hello = json.loads(await ws.receive_str(timeout=10))
    if hello.get("type") != "hello":
        raise RuntimeError(f"socket refused: {hello}")

    async def exchange(sdp: str) -> str:
        await ws.send_json({"type": "watch", "live_id": live_id, "sdp": sdp, "id": 1})
        while True:
            reply = json.loads(await ws.receive_str(timeout=15))
            if reply.get("id") != 1:
                continue
            if reply.get("type") != "watch.answer":
                raise RuntimeError(f"watch refused: {reply}")
            return str(reply["sdp"])

    return ws, exchange


async def _round(base: str, live_id: str, name: str, args: Any) -> dict[str, Any]:
    times: list[float] = []
    failures = 0
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 30
        while True:  # the live must have media before anyone can watch it
            probe = FirstFrameViewer()
            try:
                await probe.time_to_first_frame(
                    whep_exchange(http, base, live_id, "probe"), timeout=10
                )
                break
            except NotReady:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
            finally:
                await probe.close()
        with Progress(f"join {name}", args.viewers, args.progress) as progress:
            for index in range(args.viewers):
                await asyncio.sleep(args.gap)
                user = f"joiner{index}"
                ws = None
                if name == "socket":
                    ws, exchange = await _socket_exchange(http, base, live_id, user)
                else:
                    exchange = whep_exchange(http, base, live_id, user)
                viewer = FirstFrameViewer()
                try:
                    times.append(await viewer.time_to_first_frame(exchange, timeout=10))
                except TimeoutError:
                    failures += 1
                finally:
                    await viewer.close()
                    if ws is not None:
                        await ws.close()
                progress.advance()
    return {
        **{f"ttff_ms_{k}": v for k, v in summary_ms(times).items()},
        "failures": failures,
    }


def _run_round(name: str, answers_pli: bool, loop: MediaLoop, args: Any) -> dict[str, Any]:
    server_core, _ = cores()
    with run_server("directlive", server_core) as server:
        publisher = spawn(publisher_worker, server.url, loop, answers_pli)
        try:
            live_id = publisher.receive(60, "the publisher going live")[1]
            result = asyncio.run(_round(server.url, live_id, name, args))
            publisher.stop()
            _, _, keyframe_requests = publisher.receive(30, "the publisher's log")
        finally:
            publisher.stop()
            publisher.join()
    return {**result, "publisher_keyframe_requests": keyframe_requests}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.viewers < 1 or args.gap < 0:
        print("--viewers must be >= 1 and --gap >= 0", file=sys.stderr)
        return 2
    _, load_cores = cores()
    pin_self(load_cores)
    loop = encode_loop(args.codec, seconds=4.0, gop_seconds=2.0)
    result: dict[str, Any] = {"benchmark": "join", "viewers": args.viewers, "codec": args.codec}
    for name, answers_pli in ROUNDS:
        result[name] = _run_round(name, answers_pli, loop, args)
    emit(result)
    if args.plot:
        panels = {
            "time to first frame, ms": {
                f"{name} {p}": result[name][f"ttff_ms_{p}"] or 0.0
                for name, _ in ROUNDS
                for p in ("p50", "p95")
            }
        }
        plot_panels(args.plot, f"join: {args.viewers} viewers per round", panels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""An aiortc client for the shaped-link layer test, run as ``python -m
tests.clients.layer_peer`` inside a network namespace.

``publish``  goes live over WHIP with ``--layers`` pre-encoded counter layers
             (``benchmarks.layered_media``: 640x480, 320x240, 160x120; one is the top only);
             prints ``{"live_id", "connected"}`` once connected and appends
             ``<monotonic time> <counter> <layer>`` to ``--log`` for every frame it sends
             on any layer (0 = top; each layer skips ahead on its own keyframe requests, so
             their counters differ), until terminated.
``watch``    watches over WHEP for ``--seconds``, decoding every frame itself, then writes
             ``{"connected", "frames": [[time, width, height, counter|null]], "decoder_errors"}``
             to ``--out``. The monotonic clock is the machine's, shared across namespaces.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from typing import IO

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection

from benchmarks.layered_media import LAYERS, LayerTrack, encode_layers, layer_tracks
from tests.media.layered import DecodingViewer, publish_layers


def report(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def _post(url: str, token: str, sdp: str) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    async with aiohttp.ClientSession() as http, http.post(url, data=sdp, headers=headers) as r:
        return r.status, await r.text(), r.headers.get("Location", "")


class _LogWriter:
    def __init__(self, log: IO[str], tracks: list[LayerTrack]) -> None:
        self.log = log
        self.tracks = tracks
        self.written = [0] * len(tracks)

    def flush(self) -> None:
        for layer, track in enumerate(self.tracks):
            sent = track.sent[self.written[layer] :]
            self.written[layer] += len(sent)
            for at, counter in sent:
                self.log.write(f"{at:.6f} {counter} {layer}\n")
        self.log.flush()


async def publish(args: argparse.Namespace) -> None:
    tracks = layer_tracks(encode_layers(LAYERS[: args.layers]))
    live_ids: list[str] = []

    async def exchange(sdp: str) -> str:
        status, answer, location = await _post(f"{args.base}/whip", args.token, sdp)
        if status != 201:
            raise RuntimeError(f"{status} {answer}")
        live_ids.append(location.rsplit("/", 1)[1])
        return answer

    stop = asyncio.Event()
    connected = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    await publish_layers(tracks, exchange, pc)
    with open(args.log, "w") as log:  # noqa: ASYNC230 (a local file, flushed once a second)
        writer = _LogWriter(log, tracks)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connected.wait(), 15)
            report(live_id=live_ids[0], connected=pc.connectionState == "connected")
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                writer.flush()
        finally:
            writer.flush()
            await pc.close()


async def watch(args: argparse.Namespace) -> None:
    viewer = DecodingViewer(RTCPeerConnection(RTCConfiguration(iceServers=[])))
    query = "" if args.max_layer is None else f"?max_layer={args.max_layer}"

    async def exchange(sdp: str) -> str:
        status, answer, _ = await _post(f"{args.base}/whep/{args.live_id}{query}", args.token, sdp)
        if status != 201:
            raise RuntimeError(f"{status} {answer}")
        return answer

    try:
        await viewer.watch(exchange)
        report(started=time.monotonic())
        await asyncio.sleep(args.seconds)
        result = {
            "connected": viewer.pc.connectionState == "connected",
            "frames": [[f.at, *f.size, f.counter] for f in viewer.frames],
            "decoder_errors": viewer.decoder_errors,
        }
        partial = args.out + ".partial"
        with open(partial, "w") as out:  # noqa: ASYNC230 (once, at the end)
            json.dump(result, out)
        os.replace(partial, args.out)  # whole, or not there
        report(done=True, frames=len(viewer.frames))
    finally:
        await viewer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="layer_peer")
    commands = parser.add_subparsers(dest="command", required=True)
    pub = commands.add_parser("publish")
    pub.add_argument("--base", required=True)
    pub.add_argument("--token", required=True)
    pub.add_argument("--layers", type=int, default=3)
    pub.add_argument("--log", required=True)
    view = commands.add_parser("watch")
    view.add_argument("--base", required=True)
    view.add_argument("--token", required=True)
    view.add_argument("--live-id", required=True)
    view.add_argument("--seconds", type=float, required=True)
    view.add_argument("--max-layer", type=int)
    view.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    asyncio.run(publish(args) if args.command == "publish" else watch(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""An aiortc client for the network-namespace tests, run as ``python -m
tests.clients.net_peer`` inside a namespace; it reports JSON lines on stdout.

``publish``  goes live over WHIP with counter video and a tone; prints ``{"live_id"}`` once
             connected, then publishes until ``--seconds`` pass or it is terminated.
``watch``    watches over WHEP and prints what it decoded: ``{"connected", "frames",
             "increasing", "local_candidate_types", ...}``. ``--link-ice`` takes its ICE
             servers from the ``Link`` headers of ``OPTIONS /whep/{live}`` (RFC 9725 4.6);
             ``--relay`` gathers relay candidates only; ``--trickle`` posts an offer without
             candidates and PATCHes them.
``ice-servers`` prints ``GET /api/ice-servers``.
``allocate`` asks a TURN server for an allocation with the given credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import signal
import sys
import time
from typing import Any, cast

import aiohttp
import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from tests.media.counter import CounterUnreadable, RgbImage, read_counter
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack

LINK = re.compile(r'<(?P<url>[^>]+)>\s*;\s*rel="ice-server"(?P<params>[^,]*)')
PARAM = re.compile(r';\s*([a-z-]+)="((?:[^"\\]|\\.)*)"')


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def ice_servers_from_links(values: list[str], prefer_tcp: bool) -> list[RTCIceServer]:
    """RFC 9725 ``Link`` headers as ``RTCIceServer``s (aiortc uses only its first TURN)."""
    servers: list[RTCIceServer] = []
    for value in values:
        for match in LINK.finditer(value):
            params = {k: v.replace('\\"', '"') for k, v in PARAM.findall(match["params"])}
            servers.append(
                RTCIceServer(
                    urls=match["url"],
                    username=params.get("username"),
                    credential=params.get("credential"),
                )
            )
    if prefer_tcp:
        servers.sort(key=lambda s: "transport=tcp" not in str(s.urls))
    return servers


def without_candidates(sdp: str) -> str:
    kept = [
        line
        for line in sdp.splitlines()
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    ]
    return "\r\n".join(kept) + "\r\n"


def first_section_fragment(sdp: str) -> str:
    lines = sdp.splitlines()
    first_m = next(i for i, line in enumerate(lines) if line.startswith("m="))
    head = [line for line in lines if line.startswith(("a=ice-ufrag:", "a=ice-pwd:"))][:2]
    section: list[str] = [lines[first_m]]
    for line in lines[first_m + 1 :]:
        if line.startswith("m="):
            break
        if line.startswith(("a=mid:", "a=candidate:")):
            section.append(line)
    return "\r\n".join([*head, *section, "a=end-of-candidates", ""])


async def publish(args: argparse.Namespace) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for track in (CounterVideoTrack(fps=15, width=640, height=128), ToneAudioTrack()):
        pc.addTransceiver(track, direction="sendonly")
    stop = asyncio.Event()
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/sdp"}
    try:
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{args.base}/whip", data=pc.localDescription.sdp, headers=headers
            ) as response,
        ):
            answer = await response.text()
            if response.status != 201:
                report(error=f"{response.status} {answer}")
                return
            live_id = response.headers["Location"].rsplit("/", 1)[1]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connected.wait(), args.timeout)
        report(live_id=live_id, connected=pc.connectionState == "connected")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.seconds)
    finally:
        await pc.close()


class Watcher:
    def __init__(self, config: RTCConfiguration) -> None:
        self.pc = RTCPeerConnection(config)
        self.counters: list[int] = []
        self.unreadable = 0
        self.audio = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on(
            "track", lambda track: self.tasks.append(asyncio.ensure_future(self.read(track)))
        )

    async def read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.VideoFrame):
                    self.audio += 1
                    continue
                try:
                    image = cast(RgbImage, frame.to_ndarray(format="rgb24"))
                    self.counters.append(read_counter(image))
                except CounterUnreadable:
                    self.unreadable += 1

    def local_candidate_types(self) -> list[str]:
        gatherer = self.pc.getTransceivers()[0].receiver.transport.transport.iceGatherer
        return sorted({c.type for c in gatherer.getLocalCandidates()})

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def watch(args: argparse.Namespace) -> None:
    auth = {"Authorization": f"Bearer {args.token}"}
    url = f"{args.base}/whep/{args.live_id}"
    async with aiohttp.ClientSession() as http:
        servers: list[RTCIceServer] = []
        if args.link_ice:
            async with http.options(url, headers=auth) as response:
                servers = ice_servers_from_links(
                    response.headers.getall("Link", []), args.prefer_tcp
                )
        policy = RTCIceTransportPolicy.RELAY if args.relay else RTCIceTransportPolicy.ALL
        watcher = Watcher(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))
        started = time.monotonic()
        try:
            await watcher.pc.setLocalDescription(await watcher.pc.createOffer())
            assert watcher.pc.localDescription is not None
            full = watcher.pc.localDescription.sdp
            offer = without_candidates(full) if args.trickle else full
            headers = {**auth, "Content-Type": "application/sdp"}
            async with http.post(url, data=offer, headers=headers) as response:
                answer = await response.text()
                if response.status != 201:
                    report(error=f"{response.status} {answer}")
                    return
                location, etag = response.headers["Location"], response.headers["ETag"]
            patched = None
            if args.trickle:
                fragment = first_section_fragment(full)
                patch_headers = {
                    **auth,
                    "Content-Type": "application/trickle-ice-sdpfrag",
                    "If-Match": etag,
                }
                async with http.patch(
                    args.base + location, data=fragment, headers=patch_headers
                ) as response:
                    patched = response.status
            await watcher.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            deadline = started + args.timeout
            while len(watcher.counters) < args.frames and time.monotonic() < deadline:
                if watcher.pc.connectionState == "failed":
                    break
                await asyncio.sleep(0.05)
            counters = watcher.counters
            report(
                connected=watcher.pc.connectionState == "connected",
                state=watcher.pc.connectionState,
                frames=len(counters),
                increasing=all(b > a for a, b in itertools.pairwise(counters)),
                unreadable=watcher.unreadable,
                audio_frames=watcher.audio,
                local_candidate_types=watcher.local_candidate_types(),
                ice_servers=[str(s.urls) for s in servers],
                answer_candidates=[
                    line for line in answer.splitlines() if line.startswith("a=candidate:")
                ],
                patched=patched,
                seconds=round(time.monotonic() - started, 2),
            )
        finally:
            await watcher.close()


async def ice_servers(args: argparse.Namespace) -> None:
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {args.token}"}
        async with http.get(f"{args.base}/api/ice-servers", headers=auth) as response:
            report(status=response.status, **(await response.json()))


async def allocate(args: argparse.Namespace) -> None:
    from aioice.turn import create_turn_endpoint

    host, _, port = args.server.rpartition(":")
    try:
        transport, _protocol = await asyncio.wait_for(
            create_turn_endpoint(
                asyncio.DatagramProtocol,
                (host, int(port)),
                args.username,
                args.credential,
                transport=args.transport,
            ),
            10,
        )
    except Exception as exc:  # the refusal is the result being reported
        report(allocated=False, error=repr(exc))
        return
    relayed = transport.get_extra_info("sockname")
    transport.close()
    report(allocated=True, relayed=list(relayed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="net_peer")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("publish", "watch", "ice-servers"):
        command = sub.add_parser(name)
        command.add_argument("--base", required=True)
        command.add_argument("--token", required=True)
        command.add_argument("--timeout", type=float, default=20)
    sub.choices["publish"].add_argument("--seconds", type=float, default=120)
    watching = sub.choices["watch"]
    watching.add_argument("--live-id", required=True)
    watching.add_argument("--frames", type=int, default=30)
    watching.add_argument("--link-ice", action="store_true")
    watching.add_argument("--prefer-tcp", action="store_true")
    watching.add_argument("--relay", action="store_true")
    watching.add_argument("--trickle", action="store_true")
    allocating = sub.add_parser("allocate")
    allocating.add_argument("--server", required=True, help="HOST:PORT")
    allocating.add_argument("--transport", default="tcp")
    allocating.add_argument("--username", required=True)
    allocating.add_argument("--credential", required=True)
    args = parser.parse_args(argv)
    run = {"publish": publish, "watch": watch, "ice-servers": ice_servers, "allocate": allocate}
    asyncio.run(run[args.command](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``--baseline`` server: aiortc's stock MediaRelay behind WHIP/WHEP-shaped URLs.

MediaRelay hands every viewer the publisher's *decoded* frames, so each viewer's sender runs
its own encoder (decode once, encode per viewer). Only what the benchmarks need: one live,
``POST /whip``, ``POST /whep/{live_id}``, ``GET /healthz``; tokens are not checked.
``python -m benchmarks.relay_server --port PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from streamer import LOOPBACK
from streamer.aiortc.peer import close_quietly, new_peer_connection

LIVE_ID = "relay"


class RelayServer:
    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.peers: set[RTCPeerConnection] = set()

    async def whip(self, request: web.Request) -> web.Response:
        pc = new_peer_connection(LOOPBACK)
        self.peers.add(pc)
        pc.on("track", lambda track: self.tracks.__setitem__(track.kind, track))
        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": f"/whip/{LIVE_ID}"},
        )

    async def whep(self, request: web.Request) -> web.Response:
        if "video" not in self.tracks:
            raise web.HTTPConflict(text='{"error": {"code": "live_not_ready"}}')
        pc = new_peer_connection(LOOPBACK)
        self.peers.add(pc)
        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        for transceiver in pc.getTransceivers():
            track = self.tracks.get(transceiver.kind)
            if track is None:
                transceiver.direction = "inactive"
                continue
            transceiver.sender.replaceTrack(self.relay.subscribe(track))
            transceiver.direction = "sendonly"
        await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": f"/whep/{LIVE_ID}/{len(self.peers)}"},
        )

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def close(self, app: web.Application) -> None:
        await asyncio.gather(*(close_quietly(pc) for pc in self.peers))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.relay_server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server = RelayServer()
    app = web.Application()
    app.router.add_post("/whip", server.whip)
    app.router.add_post("/whep/{live_id}", server.whep)
    app.router.add_get("/healthz", server.healthz)
    app.on_shutdown.append(server.close)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

"""A real directlive server on a free loopback port, for tests."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection

from benchmarks.harness import free_udp_ports
from fanout import Store
from signaling.app import build_app
from signaling.appkeys import STREAMER
from signaling.auth import TokenIssuer
from signaling.config import ServerConfig
from streamer import MediaConfig
from tests.media.peers import publish, video_source, wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack

SECRET = "test-secret-not-for-production"


@dataclass
class ServerClient:
    """Calls one server over HTTP and sockets as any user (tokens minted with its secret)."""

    url: str
    http: aiohttp.ClientSession
    tokens: TokenIssuer

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.mint(user)}"}

    async def whip(self, user: str, offer: str) -> tuple[str, str]:
        """Publish; returns (live_id, answer)."""
        headers = {**self.auth(user), "Content-Type": "application/sdp"}
        async with self.http.post(f"{self.url}/whip", data=offer, headers=headers) as response:
            body = await response.text()
            assert response.status == 201, body
            return response.headers["Location"].rsplit("/", 1)[1], body

    async def whep(
        self, user: str, live_id: str, offer: str, via_thread: str | None = None
    ) -> tuple[str, str]:
        """Watch; returns (Location, answer)."""
        headers = {**self.auth(user), "Content-Type": "application/sdp"}
        params = {"via_thread": via_thread} if via_thread else {}
        url = f"{self.url}/whep/{live_id}"
        async with self.http.post(url, data=offer, headers=headers, params=params) as response:
            body = await response.text()
            if response.status != 201:
                raise WhepRefused(response.status, json.loads(body)["error"]["code"])
            return response.headers["Location"], body

    async def api(self, user: str, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the JSON API as ``user``; returns (status, decoded body)."""
        headers = self.auth(user)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        async with self.http.request(method, self.url + path, headers=headers, data=data) as r:
            return r.status, await r.json()

    async def socket(self, user: str) -> SocketClient:
        ws = await self.http.ws_connect(f"{self.url}/ws", headers=self.auth(user))
        client = SocketClient(ws)
        hello = await client.next_of("hello")
        assert hello["user"] == user
        return client


@dataclass
class RunningServer(ServerClient):
    """A server running in this test's process."""

    app: web.Application


class WhepRefused(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


class SocketClient:
    """Reads a signaling socket in the background, keeping every message."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, object]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(frame.data))
                self._arrived.set()

    async def send(self, message: Mapping[str, object]) -> None:
        await self.ws.send_json(message)

    async def next_of(
        self, kind: str, /, timeout: float = 10.0, **match: object
    ) -> dict[str, object]:
        """The first message of type ``kind`` (and matching fields), waiting up to ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                for message in self.messages:
                    if message.get("type") == kind and all(
                        message.get(k) == v for k, v in match.items()
                    ):
                        return message
                self._arrived.clear()
                await self._arrived.wait()

    async def request(
        self, message: Mapping[str, object], timeout: float = 15.0
    ) -> dict[str, object]:
        """Send with a fresh id and return the reply (or error) carrying that id."""
        request_id = f"r{len(self.messages)}-{id(message)}"
        await self.send({**message, "id": request_id})
        return await self.reply_to(request_id, timeout)

    async def reply_to(self, request_id: object, timeout: float = 15.0) -> dict[str, object]:
        """The reply (or error) carrying ``request_id``, waiting up to ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                for reply in self.messages:
                    if reply.get("id") == request_id:
                        return reply
                self._arrived.clear()
                await self._arrived.wait()

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def go_live(server: RunningServer, host: str) -> tuple[str, RTCPeerConnection]:
    """``host`` goes live over WHIP with an aiortc publisher (counter video + tone), and the
    server holds a keyframe; returns (live_id, publisher)."""
    live_ids: list[str] = []

    async def exchange(sdp: str) -> str:
        live_id, answer = await server.whip(host, sdp)
        live_ids.append(live_id)
        return answer

    pc = await publish([CounterVideoTrack(), ToneAudioTrack()], exchange)
    streamer = server.app[STREAMER]
    try:
        await wait_for(
            lambda: video_source(streamer.get(live_ids[0])).has_keyframe, 10, "first keyframe"
        )
    except BaseException:
        await pc.close()
        raise
    return live_ids[0], pc


MEDIA_WORKERS = int(os.environ.get("DIRECTLIVE_TEST_MEDIA_WORKERS", "2"))
"""Servers under test serve viewers from worker processes, as ``directlive serve`` does."""
SINGLE_PORT = os.environ.get("DIRECTLIVE_TEST_UDP_PORT") == "1"
"""``DIRECTLIVE_TEST_UDP_PORT=1`` runs every server under test with ``--udp-port``."""


def server_config(data_dir: Path, **overrides: object) -> ServerConfig:
    config = ServerConfig(
        port=0,
        data_dir=data_dir,
        secret=SECRET,
        ice_addresses=("127.0.0.1",),
        cors_origins=("http://app.example",),
        media=MediaConfig(
            publisher_grace_seconds=0.5,
            workers=MEDIA_WORKERS,
            udp_port=free_udp_ports(1 + MEDIA_WORKERS) if SINGLE_PORT else None,
        ),
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def running_server(
    config: ServerConfig, store: Store | None = None
) -> AsyncIterator[RunningServer]:
    app = build_app(config, store)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        try:
            url = f"http://127.0.0.1:{port}"
            yield RunningServer(url=url, http=http, tokens=TokenIssuer(SECRET), app=app)
        finally:
            await runner.cleanup()

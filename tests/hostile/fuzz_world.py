"""A real server in its own thread, with a small world the fuzz suite attacks.

Hypothesis drives plain (synchronous) test functions, so the server, its store and the test's
clients run on an event loop in a background thread; each example hands that loop a coroutine
and waits for its result. In the world: ``alice`` hosts the live ``L1`` (a live of the social
plane, no media), ``bob`` is the well-behaved witness in its room, ``mallory`` sends the
hostile input, from her own socket (also in the room) and over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fanout import RoomConfig
from fanout.redis_store import RedisStore
from signaling.appkeys import FANOUT
from streamer import MediaConfig
from tests.server import RunningServer, SocketClient, running_server, server_config

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_CODES = frozenset(
    re.findall(r"`(?:\d{3} )?([a-z]+(?:_[a-z]+)*)`", (ROOT / "docs/protocol.md").read_text())
)
"""Every code-like word docs/protocol.md puts in backticks: an answer's code must be one."""
HOST, WITNESS, FUZZER = "alice", "bob", "mallory"
LIVE = "L1"


@dataclass
class World:
    server: RunningServer
    dm: str
    """Thread id of the 1:1 thread mallory-bob."""
    group: str
    """Thread id of a group of the three."""
    host: SocketClient
    witness: SocketClient
    fuzzer: SocketClient


class ServerErrors(logging.Handler):
    """Collects every ERROR the server logs (unhandled exceptions, ``internal``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@dataclass
class ServerThread:
    data_dir: Path
    redis_url: str | None
    errors: ServerErrors = field(default_factory=ServerErrors)
    world: World | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _failure: BaseException | None = None

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._main, name="fuzz-server", daemon=True)

    def start(self) -> World:
        logging.getLogger().addHandler(self.errors)
        self._thread.start()
        if not self._ready.wait(60) or self.world is None:
            raise RuntimeError(f"the fuzz server did not start: {self._failure!r}")
        return self.world

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        logging.getLogger().removeHandler(self.errors)
        if self._failure is not None:
            raise self._failure

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as failure:
            self._failure = failure
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.redis_url is not None:
            store = RedisStore(self.redis_url)
            await store.redis.flushdb()
            await store.close()
        config = server_config(
            self.data_dir,
            redis_url=self.redis_url,
            media=MediaConfig(publisher_grace_seconds=0.5, workers=0),
            room=RoomConfig(comments_per_window=10**6, reactions_per_window=10**6),
        )
        async with running_server(config) as server:
            self.world = await _build_world(server)
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                for socket in (self.world.host, self.world.witness, self.world.fuzzer):
                    await socket.close()


async def _build_world(server: RunningServer) -> World:
    fanout = server.app[FANOUT]
    for user in (HOST, WITNESS, FUZZER, "carol"):
        await fanout.ensure_user(user)
    await fanout.graph.follow(WITNESS, HOST)
    await fanout.graph.follow(FUZZER, HOST)
    dm = await fanout.direct.create(FUZZER, [WITNESS])
    group = await fanout.direct.create(HOST, [WITNESS, FUZZER], "crew")
    await fanout.start_live(HOST, LIVE)
    sockets = [await server.socket(user) for user in (HOST, WITNESS, FUZZER)]
    for socket in sockets:
        joined = await socket.request({"type": "room.join", "live_id": LIVE})
        assert joined["type"] == "room.joined", joined
    host, witness, fuzzer = sockets
    return World(server, dm.thread_id, group.thread_id, host, witness, fuzzer)


async def witness_still_hears(world: World) -> None:
    """The host reacts; the witness's socket must receive it."""
    world.witness.messages.clear()
    reply = await world.host.request({"type": "reaction", "live_id": LIVE, "kind": "fire"})
    assert reply["type"] == "reaction.ok", reply
    await world.witness.next_of("reaction.new", user=HOST)


async def server_alive(server: RunningServer) -> None:
    async with server.http.get(server.url + "/healthz") as response:
        assert response.status == 200

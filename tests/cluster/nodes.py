"""Several real ``directlive serve`` processes on one real redis-server, for multi-node tests.

Every node is a subprocess of this venv's ``directlive`` with ``--redis URL --node-id ID
--port PORT`` and one shared ``DIRECTLIVE_SECRET``, so a token minted by the test validates on
every node. A node can be killed (``SIGKILL`` to its whole process group: the main process and
its media workers) and restarted under the same id and port. Leaving ``running_cluster`` ends
every process and the redis-server, whatever happened inside.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from fanout.redis_launcher import RedisServer, free_port, redis_server
from signaling.auth import TokenIssuer
from tests.server import SECRET, ServerClient

DIRECTLIVE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "directlive"
HEALTHY_DEADLINE = 30.0
"""Seconds a node may take to answer ``/healthz`` (several start at once on 2 shared cores)."""
STOP_DEADLINE = 10.0
NODE_ARGS: tuple[str, ...] = (
    *("--ice-address", "127.0.0.1"),
    *("--media-workers", "1"),
    *("--publisher-grace", "0.5"),
    *("--log-level", "WARNING"),
)
"""Options every node gets before the test's own ``extra_args``."""


def directlive_command() -> list[str]:
    """The venv's ``directlive`` script, or this interpreter running the CLI module."""
    if DIRECTLIVE.exists():
        return [str(DIRECTLIVE)]
    return [sys.executable, "-m", "signaling.cli"]


@dataclass
class ClusterNode(ServerClient):
    """One ``directlive serve`` process; ``url``, ``api``, ``socket``, ``whip``... as for an
    in-process server (``tests.server.ServerClient``)."""

    node_id: str = ""
    port: int = 0
    redis_url: str = ""
    data_dir: Path = Path()
    log_path: Path = Path()
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Spawn the process (same id, port and data directory on every start)."""
        assert not self.running, f"node {self.node_id} is already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            *directlive_command(),
            "serve",
            *("--port", str(self.port), "--redis", self.redis_url, "--node-id", self.node_id),
            *("--data-dir", str(self.data_dir)),
            *NODE_ARGS,
            *self.extra_args,
        ]
        env = {**os.environ, "DIRECTLIVE_SECRET": SECRET}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_healthy(self, deadline: float = HEALTHY_DEADLINE) -> None:
        until = time.monotonic() + deadline
        while True:
            assert self.running, f"node {self.node_id} exited:\n{self.log_tail()}"
            with suppress(aiohttp.ClientError):
                async with self.http.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            assert time.monotonic() < until, f"node {self.node_id} not healthy:\n{self.log_tail()}"
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """``kill -9`` the node: its main process and media workers, no clean-up of any kind."""
        self._signal_group(signal.SIGKILL)

    def stop(self) -> None:
        """End the node gracefully (``SIGTERM``), then by force past ``STOP_DEADLINE``."""
        self._signal_group(signal.SIGTERM)

    async def restart(self) -> None:
        """Start again after ``kill`` or ``stop`` and wait until it answers."""
        self.start()
        await self.wait_healthy()

    def log_tail(self, lines: int = 40) -> str:
        with suppress(OSError), open(self.log_path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
        return ""

    def send_stop(self) -> None:
        """``SIGTERM`` without waiting (to stop several nodes at once, then ``stop`` each)."""
        if self.running:
            assert self.process is not None
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def _signal_group(self, signum: signal.Signals) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signum)
            try:
                process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Media workers share the group; take any that outlived their node.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self.process = None


@dataclass
class Cluster:
    """Nodes by id (``cluster["a"]``), the shared redis-server, and a token issuer."""

    redis: RedisServer
    nodes: dict[str, ClusterNode]
    tokens: TokenIssuer

    def __getitem__(self, node_id: str) -> ClusterNode:
        return self.nodes[node_id]

    def __iter__(self) -> Iterator[ClusterNode]:
        return iter(self.nodes.values())

    @property
    def redis_url(self) -> str:
        return self.redis.url


@asynccontextmanager
async def running_cluster(
    tmp_path: Path,
    node_ids: Sequence[str] = ("a", "b", "c"),
    extra_args: Sequence[str] = (),
) -> AsyncIterator[Cluster]:
    """Start one redis-server and one node per id (all at once), wait until every node is
    healthy, yield; always stop every node and the redis-server on the way out."""
    tokens = TokenIssuer(SECRET)
    with redis_server() as redis:
        async with aiohttp.ClientSession() as http:
            nodes: dict[str, ClusterNode] = {}
            for node_id in node_ids:
                port = free_port()
                nodes[node_id] = ClusterNode(
                    url=f"http://127.0.0.1:{port}",
                    http=http,
                    tokens=tokens,
                    node_id=node_id,
                    port=port,
                    redis_url=redis.url,
                    data_dir=tmp_path / f"node-{node_id}",
                    log_path=tmp_path / f"node-{node_id}.log",
                    extra_args=tuple(extra_args),
                )
            try:
                for node in nodes.values():
                    node.start()
                await asyncio.gather(*(node.wait_healthy() for node in nodes.values()))
                yield Cluster(redis, nodes, tokens)
            finally:
                for node in nodes.values():
                    node.send_stop()
                for node in nodes.values():
                    node.stop()

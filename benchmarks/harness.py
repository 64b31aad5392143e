"""Processes of the media benchmarks: a server pinned to one core, load on the other.

The server under test is a real ``directlive serve`` subprocess (or, for ``--baseline``,
``python -m benchmarks.relay_server``, aiortc's stock MediaRelay behind the same URLs),
reached over HTTP on 127.0.0.1. The publisher and the viewers run in ``spawn``ed processes
pinned to the load core; they talk to the orchestrator over pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import multiprocessing.connection
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.netns import Topology

SECRET = "directlive-bench-secret"
ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _allowed_cpus() -> tuple[int, ...]:
    return tuple(sorted(os.sched_getaffinity(0)))


def cores() -> tuple[set[int], set[int]]:
    """(server core, load cores): the first allowed CPU for the server, the rest for load.

    The CPUs allowed when first asked, so that asking again after ``pin_self`` (which
    narrows this process to the load cores) still gives the server its own core."""
    allowed = _allowed_cpus()
    if len(allowed) < 2:
        return set(allowed), set(allowed)
    return {allowed[0]}, set(allowed[1:])


def pin_self(load: set[int]) -> None:
    """Pin this process (and the children it starts from now on) to the load cores."""
    os.sched_setaffinity(0, load)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


UDP_LOW, UDP_HIGH = 20_000, 32_000
"""Below Linux's ephemeral range (32768-60999), which aioice's own sockets draw from."""


def free_udp_ports(count: int, host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive UDP ports free on ``host`` just now (for
    ``--udp-port``)."""
    for _ in range(200):
        base = random.randrange(UDP_LOW, UDP_HIGH - count)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    sock.bind((host, port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {count} consecutive free UDP ports")


def token(user: str) -> str:
    from signaling.auth import TokenIssuer

    return TokenIssuer(SECRET).mint(user, ttl=3600)


@dataclass
class ProcessSample:
    cpu_seconds: float
    rss_mb: float
    system_seconds: float = 0.0
    """The kernel's share of ``cpu_seconds`` (syscalls, and loopback delivery they run)."""
    processes: int = 1
    main_cpu_seconds: float = 0.0
    """The server's main process alone (without its media workers)."""


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's media workers)."""
    tree, index = [pid], 0
    while index < len(tree):
        parent = tree[index]
        index += 1
        with suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    tree.extend(int(child) for child in children.read().split())
    return tree


def sample_process(pid: int) -> ProcessSample:
    """User+system CPU time of every thread of ``pid`` and of its descendant processes
    (the media workers), and their resident memory."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = ProcessSample(0.0, 0.0, 0.0, processes=0)
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            rss_kb = 0
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss_kb = int(line.split()[1])
        except OSError:
            continue  # it exited meanwhile
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        if member == pid:
            total.main_cpu_seconds = cpu
        total.cpu_seconds += cpu
        total.system_seconds += int(fields[12]) / ticks
        total.rss_mb += rss_kb / 1024
        total.processes += 1
    return total


def cores_busy_seconds(cores: set[int]) -> float:
    """CPU time the kernel counts as busy on ``cores`` so far (every process, ours or not:
    compared with a process's own CPU it shows how much of its core others took)."""
    ticks = os.sysconf("SC_CLK_TCK")
    busy = 0
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu" and int(name[3:]) in cores:
                values = [
                    int(v) for v in fields[:8]
                ]  # user nice system idle iowait irq softirq steal
                busy += sum(values) - values[3] - values[4]
    return busy / ticks


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def run_server(
    kind: str,
    core: set[int],
    timeout: float = 30.0,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    media_workers: int = 1,
    topology: Topology | None = None,
) -> Iterator[Server]:
    """Start the server (``directlive`` or ``relay``) pinned to ``core``; stop it at exit.

    ``env`` adds environment variables (e.g. ``DIRECTLIVE_FAST_FORWARDING=0``). The server
    runs ``media_workers`` worker processes (all on ``core``, as its children). With a
    ``topology`` (directlive only) it runs in the server's namespace, serving HTTP and ICE
    on the server's veth address; else on 127.0.0.1."""
    port = free_port()
    host = "127.0.0.1" if topology is None else topology.server_address
    with tempfile.TemporaryDirectory(prefix="directlive-bench-") as data_dir:
        if kind == "directlive":
            command = [
                *(sys.executable, "-m", "signaling.cli", "serve", "--port", str(port)),
                *("--host", host, "--data-dir", data_dir, "--ice-address", host),
                *("--log-level", "WARNING", "--media-workers", str(media_workers)),
                *extra,
            ]
        else:
            if topology is not None:
                raise ValueError("the MediaRelay baseline runs on loopback only")
            command = [sys.executable, "-m", "benchmarks.relay_server", "--port", str(port)]
        if topology is not None:
            command = topology.server_command(command)
        environment = {**os.environ, **(env or {}), "DIRECTLIVE_SECRET": SECRET}
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        os.sched_setaffinity(process.pid, core)
        server = Server(f"http://{host}:{port}", process)
        try:
            _wait_healthy(server, timeout)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


def _wait_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            assert server.process.stderr is not None
            error = server.process.stderr.read().decode(errors="replace")
            raise RuntimeError(f"the server exited at start-up:\n{error[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not healthy within {timeout}s")
        time.sleep(0.05)


@dataclass
class Worker:
    """A spawned process and our end of its pipe."""

    process: multiprocessing.process.BaseProcess
    pipe: multiprocessing.connection.Connection

    def receive(self, timeout: float, what: str) -> Any:
        if not self.pipe.poll(timeout):
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        message = self.pipe.recv()
        if isinstance(message, tuple) and message and message[0] == "error":
            raise RuntimeError(f"{what} failed in a worker:\n{message[1]}")
        return message

    def stop(self) -> None:
        with suppress(BrokenPipeError, OSError):
            self.pipe.send("stop")

    def join(self) -> None:
        self.process.join(timeout=15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.pipe.close()


def spawn(target: Any, *args: Any) -> Worker:
    """Run ``target(pipe, *args)`` in a fresh interpreter (inherits this process's cores)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs, *args), daemon=True)
    process.start()
    theirs.close()
    return Worker(process, ours)


async def wait_message(pipe: multiprocessing.connection.Connection) -> Any:
    """Await the next message on ``pipe`` without blocking the event loop."""
    while True:
        if pipe.poll():
            return pipe.recv()
        await asyncio.sleep(0.05)

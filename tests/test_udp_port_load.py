"""``directlive serve --udp-port BASE`` as a user runs it: one publisher and 50 viewers over
one UDP socket per server process, undisturbed by a flood of junk and forged STUN."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.harness import free_udp_ports
from signaling.auth import TokenIssuer
from tests.media.peers import Exchange, Viewer, publish, wait_for
from tests.media.tracks import CounterVideoTrack

ROOT = Path(__file__).resolve().parent.parent
SECRET = "udp-port-test-secret"
WORKERS = 2
VIEWERS = 50
FPS = 15
FLOOD_DATAGRAMS = 100_000
FLOOD_RATE = 10_000
"""Datagrams per second, spread over the three ports: far above any peer's own traffic, yet
paced so that on 2 shared cores the test measures the server rather than its own sending."""
DECODING = 10
"""Viewers that decode every frame and read its counter; the others count encoded frames
(the test's process would otherwise spend its core decoding 50 streams)."""
UNKNOWN = "directlive_udp_unknown_ufrag_total"
STRAY = "directlive_udp_stray_datagrams_total"
RSS_GROWTH_LIMIT_KB = 16 * 1024
"""What one server process's resident memory may grow by across the flood."""


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    udp_port: int

    def tree(self) -> list[int]:
        """The main process and its media workers."""
        pids = [self.process.pid]
        for task in os.listdir(f"/proc/{self.process.pid}/task"):
            with open(f"/proc/{self.process.pid}/task/{task}/children") as children:
                pids.extend(int(pid) for pid in children.read().split())
        return pids


@contextmanager
def serve(tmp_path: Path) -> Iterator[ServerProcess]:
    udp_port = free_udp_ports(1 + WORKERS)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        http_port = probe.getsockname()[1]
    command = [
        *(sys.executable, "-m", "signaling.cli", "serve", "--port", str(http_port)),
        *("--data-dir", str(tmp_path), "--ice-address", "127.0.0.1"),
        *("--media-workers", str(WORKERS), "--log-level", "WARNING"),
    ]
    env = {**os.environ, "DIRECTLIVE_SECRET": SECRET, "DIRECTLIVE_UDP_PORT": str(udp_port)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    try:
        yield ServerProcess(process, f"http://127.0.0.1:{http_port}", udp_port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def udp_ports_of(pid: int) -> list[int]:
    """Local ports of the UDP sockets process ``pid`` holds (from /proc/PID/net/udp*)."""
    inodes: set[str] = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports: list[int] = []
    for table in ("udp", "udp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            for line in itertools.islice(lines, 1, None):
                fields = line.split()
                if fields[9] in inodes:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def candidate_ports(sdp: str) -> set[int]:
    return {int(line.split()[5]) for line in sdp.splitlines() if line.startswith("a=candidate:")}


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def metric(http: aiohttp.ClientSession, url: str, token: str, name: str) -> float:
    async with http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}) as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@asynccontextmanager
async def http_client(url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 30
        while True:
            with suppress(aiohttp.ClientError):
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        break
            assert time.monotonic() < deadline, "the server did not become healthy"
            await asyncio.sleep(0.1)
        yield http


async def flood(ports: list[int]) -> tuple[int, float]:
    """``FLOOD_DATAGRAMS`` at ``ports`` from another process (``tests.udp_flood``); returns
    (datagrams sent, seconds)."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.udp_flood", ",".join(map(str, ports))),
        *(str(FLOOD_DATAGRAMS), str(FLOOD_RATE)),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0
    return int(output), time.monotonic() - started


async def test_fifty_viewers_share_one_socket_per_worker_through_a_flood(tmp_path: Path) -> None:
    tokens = TokenIssuer(SECRET)
    video = CounterVideoTrack(fps=FPS, width=640, height=96)
    viewers = [Viewer(audio=False, decode=i < DECODING) for i in range(VIEWERS)]
    publisher = None
    with serve(tmp_path) as server:
        async with http_client(server.url) as http:
            live: list[str] = []
            answers: list[str] = []

            async def whip(sdp: str) -> str:
                headers = {
                    "Authorization": f"Bearer {tokens.mint('host')}",
                    "Content-Type": "application/sdp",
                }
                async with http.post(f"{server.url}/whip", data=sdp, headers=headers) as r:
                    assert r.status == 201, await r.text()
                    live.append(r.headers["Location"].rsplit("/", 1)[1])
                    answers.append(await r.text())
                    return answers[-1]

            def whep(user: str) -> Exchange:
                async def exchange(sdp: str) -> str:
                    headers = {
                        "Authorization": f"Bearer {tokens.mint(user)}",
                        "Content-Type": "application/sdp",
                    }
                    url = f"{server.url}/whep/{live[0]}"
                    deadline = time.monotonic() + 20
                    while True:
                        async with http.post(url, data=sdp, headers=headers) as r:
                            body = await r.text()
                            if r.status == 201:
                                answers.append(body)
                                return body
                            assert "live_not_ready" in body, body
                            assert time.monotonic() < deadline, body
                        await asyncio.sleep(0.1)

                return exchange

            try:
                publisher = await publish([video], whip)
                for start in range(0, VIEWERS, 10):
                    await asyncio.gather(
                        *(
                            viewer.watch(whep(f"viewer{start + i}"))
                            for i, viewer in enumerate(viewers[start : start + 10])
                        )
                    )
                await wait_for(
                    lambda: all(len(v.received.times) >= 2 * FPS for v in viewers),
                    60,
                    "every viewer receiving",
                )

                # One UDP socket per server process, at BASE, BASE+1, BASE+2.
                pids = server.tree()
                assert len(pids) == 1 + WORKERS
                ports = {pid: udp_ports_of(pid) for pid in pids}
                assert ports[pids[0]] == [server.udp_port], ports
                assert sorted(p for pid in pids[1:] for p in ports[pid]) == [
                    server.udp_port + 1 + i for i in range(WORKERS)
                ], ports
                assert all(len(ports[pid]) == 1 for pid in pids), ports
                # The publisher was offered BASE, each viewer its worker's port.
                offered = [candidate_ports(answer) for answer in answers]
                assert offered[0] == {server.udp_port}
                assert all(len(o) == 1 for o in offered[1:])
                assert set().union(*offered[1:]) == {server.udp_port + 1, server.udp_port + 2}

                # The flood, at all three ports.
                admin = tokens.mint("admin")
                rss_before = {pid: rss_kb(pid) for pid in pids}
                seen = [len(v.received.times) for v in viewers]
                published = video.sent
                sent, flood_seconds = await flood([server.udp_port + i for i in range(1 + WORKERS)])
                during = [len(v.received.times) - n for v, n in zip(viewers, seen, strict=True)]
                published = video.sent - published
                unknown = await metric(http, server.url, admin, UNKNOWN)
                stray = await metric(http, server.url, admin, STRAY)
                rss_after = {pid: rss_kb(pid) for pid in pids}

                assert sent >= 0.99 * FLOOD_DATAGRAMS
                # Loopback delivers what it takes; every datagram is counted, none routed.
                assert 0.95 * sent / 2 <= unknown <= sent / 2 + 1, (unknown, sent)
                assert 0.95 * sent / 2 <= stray <= sent / 2 + 1, (stray, sent)
                # Frames kept flowing to every viewer, in order, none lost.
                # The machine is shared: compare with what the publisher managed to send.
                assert published >= FPS, "too few frames to judge"
                assert min(during) >= 0.9 * published - 3, (during, published, flood_seconds)
                for viewer in viewers[:DECODING]:
                    counters = viewer.received.counters
                    assert all(b > a for a, b in itertools.pairwise(counters)), counters
                    assert counters[-1] - counters[0] <= len(counters) + 2, "frames lost"
                for pid in pids:
                    growth = rss_after[pid] - rss_before[pid]
                    assert growth <= RSS_GROWTH_LIMIT_KB, (pid, rss_before[pid], growth)
                print(
                    f"flood: {sent} datagrams in {flood_seconds:.1f} s; frames during it: "
                    f"published {published}, viewers min {min(during)}; RSS growth KiB: "
                    f"{[rss_after[p] - rss_before[p] for p in pids]}"
                )
            finally:
                for viewer in viewers:
                    await viewer.close()
                if publisher is not None:
                    await publisher.close()

"""``bench viewers --topology netns``: server and load on two "hosts" joined by a veth pair.

On loopback the viewers' receive path (``ip_rcv``, ``udp_rcv``, queueing into their sockets,
waking them) runs inside the server's ``sendmmsg`` on the server's core and is charged to
the server. With real viewers on other machines it runs on theirs. This topology gives the
server and the load generator a network namespace each, joined by a veth pair with private
addresses that exist only inside them (``SERVER_ADDRESS``, ``LOAD_ADDRESS``), and turns on
RPS on each veth's receiving side: packets the server sends are received on the load cores
(as on another host), packets the load sends are received on the server core (as a NIC's
interrupt on the server's machine would). Everything is removed on exit, also on an error,
Ctrl-C or SIGTERM; namespaces left by a run that was killed outright are removed by the next.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType

PREFIX = "dlbench"
SERVER_ADDRESS = "10.215.0.1"
LOAD_ADDRESS = "10.215.0.2"
CLONE_NEWNET = 0x40000000
_NAME = re.compile(rf"^{PREFIX}(\d+)-(srv|load)\b")


@dataclass(frozen=True)
class Topology:
    """The two namespaces of one run, and their addresses on the veth pair."""

    server_namespace: str
    load_namespace: str
    server_link: str
    load_link: str
    server_address: str = SERVER_ADDRESS
    load_address: str = LOAD_ADDRESS

    def server_command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run in the server's namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.server_namespace, *argv]


def netns_unavailable() -> str | None:
    """Why this machine cannot build the topology, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no ip command (apt-get install iproute2)"
    return None


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def namespaces() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Delete the namespaces of bench runs whose process is gone (killed before cleaning)."""
    removed = []
    for name in namespaces():
        match = _NAME.match(name)
        if match and not _alive(int(match.group(1))):
            with suppress(RuntimeError):
                _run("ip", "netns", "del", name)
                removed.append(name)
    return removed


def cpu_mask(cpus: set[int]) -> str:
    """``cpus`` as the hex bitmap ``rps_cpus`` takes."""
    return format(sum(1 << cpu for cpu in cpus), "x")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def veth_topology(server_cpus: set[int], load_cpus: set[int]) -> Iterator[Topology]:
    """Build the two namespaces and their veth pair; remove them at exit (SIGTERM is turned
    into KeyboardInterrupt meanwhile, so the cleanup runs then too)."""
    reason = netns_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    remove_stale()
    pid = os.getpid()
    topology = Topology(
        f"{PREFIX}{pid}-srv", f"{PREFIX}{pid}-load", f"{PREFIX[:3]}{pid}s", f"{PREFIX[:3]}{pid}l"
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    made: list[str] = []
    try:
        for name in (topology.server_namespace, topology.load_namespace):
            _run("ip", "netns", "add", name)
            made.append(name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        _run(
            "ip", "link", "add", topology.server_link, "netns", topology.server_namespace,
            "type", "veth", "peer", "name", topology.load_link, "netns", topology.load_namespace,
        )  # fmt: skip
        for name, link, address, cpus in (
            (topology.server_namespace, topology.server_link, topology.server_address, server_cpus),
            (topology.load_namespace, topology.load_link, topology.load_address, load_cpus),
        ):
            _run("ip", "-n", name, "addr", "add", f"{address}/30", "dev", link)
            _run("ip", "-n", name, "link", "set", link, "up")
            rps = f"/sys/class/net/{link}/queues/rx-0/rps_cpus"
            _run("ip", "netns", "exec", name, "sh", "-c", f"echo {cpu_mask(cpus)} > {rps}")
        yield topology
    finally:
        errors = []
        for name in reversed(made):
            done = subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                errors.append(f"{name}: {done.stderr.strip()}")
        signal.signal(signal.SIGTERM, previous)
        if errors:
            raise RuntimeError("could not remove namespaces: " + "; ".join(errors))


@contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Run the calling thread (and the processes it starts) in ``namespace``; back at exit."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {namespace}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)

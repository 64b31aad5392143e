"""``bench viewers --topology netns``: the two namespaces connect, steer receive work to the
other side's cores, and are gone after the run, however it ends.

Needs root and ``ip`` (CI runs as root: a missing piece fails, as in tests/net)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from benchmarks.netns import (
    LOAD_ADDRESS,
    PREFIX,
    inside,
    namespaces,
    remove_stale,
    veth_topology,
)
from tests.benchmarks.smoke import ROOT


def _ours() -> set[str]:
    return {name for name in namespaces() if name.startswith(PREFIX)}


def _read_in(namespace: str, path: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "cat", path], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_load_reaches_the_server_over_the_veth_and_receives_on_its_own_cores() -> None:
    before = _ours()
    with veth_topology({0}, {1}) as topology:
        assert {topology.server_namespace, topology.load_namespace} <= _ours()
        with inside(topology.server_namespace):
            server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with inside(topology.load_namespace):
            load = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with server, load:
            server.bind((topology.server_address, 0))
            server.settimeout(10)
            load.sendto(b"ping", server.getsockname())
            data, source = server.recvfrom(100)
        assert (data, source[0]) == (b"ping", LOAD_ADDRESS)
        for namespace, link, mask in (
            (topology.server_namespace, topology.server_link, 1),
            (topology.load_namespace, topology.load_link, 2),
        ):
            rps = _read_in(namespace, f"/sys/class/net/{link}/queues/rx-0/rps_cpus")
            assert int(rps.replace(",", ""), 16) == mask
        # Nothing of it in this namespace: the veth lives in the two new ones only.
        assert topology.server_link not in os.listdir("/sys/class/net")
    assert _ours() == before


def _fail_inside() -> None:
    with veth_topology({0}, {1}) as topology:
        assert topology.load_namespace in _ours()
        raise RuntimeError("boom")


def test_removed_after_an_error() -> None:
    before = _ours()
    with pytest.raises(RuntimeError, match="boom"):
        _fail_inside()
    assert _ours() == before


HOLDER = """
import sys, time
from benchmarks.netns import inside, veth_topology
try:
    with veth_topology({0}, {1}) as topology, inside(topology.load_namespace):
        print(topology.server_namespace, topology.load_namespace, flush=True)
        time.sleep(60)
except KeyboardInterrupt:
    sys.exit(3)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_removed_when_the_run_is_interrupted(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    names = process.stdout.readline().split()
    assert len(names) == 2
    assert set(names) <= _ours()
    process.send_signal(signum)
    assert process.wait(timeout=30) == 3
    process.stdout.close()
    assert not set(names) & _ours()


def test_namespaces_of_a_killed_run_are_removed_by_the_next() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    name = f"{PREFIX}{dead.pid}-srv"
    subprocess.run(["ip", "netns", "add", name], check=True)
    deadline = time.monotonic() + 10
    while name not in namespaces() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert name in remove_stale()
    assert name not in namespaces()

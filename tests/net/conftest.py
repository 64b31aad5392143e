"""The namespace internet of ``tests/net/netlab.py`` with coturn and a directlive server in
``dc`` and a host publishing from ``home``, shared by the tests of this package.

These tests need root (``ip netns``), ``nft`` and ``turnserver`` (scripts/system-deps.sh);
CI runs as root, so a missing piece fails them instead of skipping.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from signaling.auth import TokenIssuer
from tests.net.netlab import PUBLIC, SERVER_PRIVATE, NetLab

ROOT = Path(__file__).resolve().parents[2]
SECRET = "netns-test-secret"
TURN_SECRET = "netns-turn-secret"
TURN_PORT = 3478
TOKENS = TokenIssuer(SECRET)


def token(user: str) -> str:
    return TOKENS.mint(user)


@dataclass
class Lab:
    net: NetLab
    workdir: Path
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def spawn(self, role: str, argv: Sequence[str], log_name: str) -> subprocess.Popen[str]:
        """A long-running process in namespace ``role``; its output goes to ``log_name``."""
        log = (self.workdir / log_name).open("w")
        process = subprocess.Popen(
            self.net.exec_argv(role, argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env={**os.environ, "DIRECTLIVE_SECRET": SECRET},
        )
        log.close()
        self.processes.append(process)
        return process

    def log(self, log_name: str) -> str:
        return (self.workdir / log_name).read_text(errors="replace")

    def wait_for_log(self, log_name: str, text: str, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 30
        while text not in self.log(log_name):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{log_name} never said {text!r}:\n{self.log(log_name)}")
            time.sleep(0.05)

    def serve(self, port: int, *extra: str, workers: int = 0) -> subprocess.Popen[str]:
        """``directlive serve`` in ``dc`` on its private address, once it is ready."""
        data_dir = self.workdir / f"server-{port}"
        argv = [
            sys.executable, "-m", "signaling.cli", "serve",
            "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(data_dir),
            "--ice-address", SERVER_PRIVATE, "--media-workers", str(workers), *extra,
        ]  # fmt: skip
        name = f"server-{port}.log"
        process = self.spawn("dc", argv, name)
        self.wait_for_log(name, "ready node=", process)
        return process

    def stop(self, process: subprocess.Popen[str]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def client(self, role: str, *args: str, timeout: float = 60) -> dict[str, Any]:
        """Run ``tests.clients.net_peer`` in ``role`` to its end; its last JSON line."""
        argv = self.net.exec_argv(role, [sys.executable, "-m", "tests.clients.net_peer", *args])
        done = subprocess.run(
            argv, capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines, f"net_peer {args[0]} reported nothing (rc={done.returncode}):\n{done.stderr}"
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def publish(self, role: str, base: str, user: str) -> str:
        """A publisher in ``role`` that stays live until the lab closes; its live id."""
        name = f"publish-{role}-{user}.log"
        argv = [sys.executable, "-m", "tests.clients.net_peer", "publish"]
        process = self.spawn(role, [*argv, "--base", base, "--token", token(user)], name)
        started = first_json_line(process, self.workdir / name, 30)
        assert started.get("connected"), f"the publisher in {role} did not connect: {started}"
        return str(started["live_id"])

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        self.net.close()


def first_json_line(process: subprocess.Popen[str], log: Path, timeout: float) -> dict[str, Any]:
    """The first JSON line a process wrote to its log, waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                parsed: dict[str, Any] = json.loads(line)
                return parsed
        if process.poll() is not None:
            break
        select.select([], [], [], 0.05)
    raise AssertionError(f"no JSON line from {log.name}:\n{log.read_text(errors='replace')}")


def start_coturn(lab: Lab) -> subprocess.Popen[str]:
    """coturn with the README's ``deploy/turnserver.conf`` (TURN REST API, UDP and TCP on
    3478); the command line adds this lab's addresses, secret and private files."""
    argv = [
        "turnserver", "-c", str(ROOT / "deploy" / "turnserver.conf"),
        f"--listening-ip={SERVER_PRIVATE}", f"--relay-ip={SERVER_PRIVATE}",
        f"--static-auth-secret={TURN_SECRET}",
        f"--pidfile={lab.workdir / 'turnserver.pid'}", f"--db={lab.workdir / 'turndb'}",
        "--verbose",
    ]  # fmt: skip
    process = lab.spawn("dc", argv, "coturn.log")
    lab.wait_for_log(
        "coturn.log", f"TCP listener opened on : {SERVER_PRIVATE}:{TURN_PORT}", process
    )
    return process


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    assert os.geteuid() == 0, "the network namespace tests run as root (as CI does)"
    for tool in ("ip", "nft", "turnserver"):
        assert shutil.which(tool), f"{tool} is missing: run scripts/system-deps.sh"
    running = Lab(NetLab(), tmp_path_factory.mktemp("netlab"))
    try:
        running.net.build()
        yield running
    finally:
        running.close()


@dataclass
class CloudServer:
    """A server behind the cloud NAT with ``--announce-ip``, coturn beside it, and a live
    published from behind the home NAT."""

    base: str
    live_id: str
    lab: Lab


@pytest.fixture(scope="package")
def cloud(lab: Lab) -> CloudServer:
    """Its processes stop with ``lab``."""
    start_coturn(lab)
    lab.serve(
        8080,
        "--announce-ip", PUBLIC,
        "--turn", f"turn:{PUBLIC}:{TURN_PORT}?transport=udp",
        "--turn", f"turn:{PUBLIC}:{TURN_PORT}?transport=tcp",
        "--turn-secret", TURN_SECRET,
        workers=1,
    )  # fmt: skip
    base = f"http://{PUBLIC}:8080"
    return CloudServer(base, lab.publish("hlan", base, "host"), lab)

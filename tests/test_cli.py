"""The command line: tokens a server accepts, and a server that starts and answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.harness import free_port, free_udp_ports
from signaling.auth import TokenIssuer, load_secret

ROOT = Path(__file__).resolve().parent.parent


def directlive(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signaling.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_token_is_accepted_by_a_server_with_the_same_data_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DIRECTLIVE_SECRET"}
    done = directlive("token", "alice", "--data-dir", str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n", "token prints the token and only the token"
    assert TokenIssuer(load_secret(None, tmp_path)).verify(token) == "alice"
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_token_uses_the_environment_secret(tmp_path: Path) -> None:
    env = {**os.environ, "DIRECTLIVE_SECRET": "from-the-environment"}
    token = directlive("token", "bob", "--ttl", "60", "--data-dir", str(tmp_path), env=env).stdout
    assert TokenIssuer("from-the-environment").verify(token.strip()) == "bob"
    assert not (tmp_path / "secret.key").exists()


def test_token_refuses_a_bad_user_id(tmp_path: Path) -> None:
    done = directlive("token", "Not A User", "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("directlive: user ids are"), done.stderr
    assert "Traceback" not in done.stderr


def test_serve_starts_and_reports_healthy(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "signaling.cli", "serve", "--port", str(port)),
            *("--data-dir", str(tmp_path), "--ice-address", "127.0.0.1", "--log-level", "WARNING"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    assert server.stderr is not None
                    pytest.fail(f"server did not become healthy: {server.stderr.read()}")
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_serve_refuses_a_udp_port_already_taken(tmp_path: Path) -> None:
    port = free_udp_ports(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", port))
        done = directlive(
            *("serve", "--port", str(free_port()), "--data-dir", str(tmp_path)),
            *("--ice-address", "127.0.0.1", "--media-workers", "0"),
            env={**os.environ, "DIRECTLIVE_UDP_PORT": str(port)},
        )
    assert done.returncode == 2
    assert f"udp port {port} on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_a_udp_port_out_of_range(tmp_path: Path) -> None:
    done = directlive("serve", "--data-dir", str(tmp_path), "--udp-port", "70000")
    assert done.returncode == 2
    assert "70000 is not a UDP port" in done.stderr
    done = directlive(
        *("serve", "--data-dir", str(tmp_path), "--udp-port", "65535", "--media-workers", "2")
    )
    assert done.returncode == 2
    assert "leaves no port for every worker" in done.stderr

"""Runs a benchmark the way a user does (``directlive bench NAME ...``) and parses its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str, timeout: float = 100) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "signaling.cli", "bench", *args, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"expected ONE JSON line on stdout, got {done.stdout!r}"
    result: dict[str, Any] = json.loads(lines[0])
    return result

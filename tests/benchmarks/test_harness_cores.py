"""The media benchmarks keep the server's core apart from the load's after pinning."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.benchmarks.smoke import ROOT

PROBE = """
import json
from benchmarks.harness import cores, pin_self
before = cores()
pin_self(before[1])
after = cores()
print(json.dumps([sorted(before[0]), sorted(before[1]), sorted(after[0]), sorted(after[1])]))
"""


def test_cores_stay_split_after_the_orchestrator_pins_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, check=True
    )
    server, load, server_after, load_after = json.loads(done.stdout)
    assert (server_after, load_after) == (server, load)
    assert server
    assert load

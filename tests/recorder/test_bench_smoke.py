"""``directlive bench record`` runs and prints one JSON object with both costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_record_reports_recording_next_to_forwarding() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "signaling.cli", "bench", "record", "--seconds", "3"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["media_seconds"] == 3.0
    assert result["forward"]["frames_dropped"] == 0
    assert result["record"]["video_frames_written"] == 90
    for run in ("forward", "record"):
        assert result[run]["cpu_s"] > 0
        assert result[run]["core_fraction_per_live"] > 0
    assert result["record_over_forward"] > 0

"""``directlive bench viewers --baseline janus`` runs end to end against Debian's janus."""

from __future__ import annotations

import glob
import tempfile
from pathlib import Path

from tests.benchmarks.smoke import bench

FIELDS = (
    "viewers",
    "server_cpu_ms_per_viewer_s",
    "fps_min",
    "fps_mean",
    "loss",
    "latency_ms_p50",
    "latency_ms_p99",
    "server_cpu_ms_per_frame_delivered",
    "load_cpu_percent_of_core",
)


def _janus_dirs() -> set[str]:
    return set(glob.glob(str(Path(tempfile.gettempdir()) / "directlive-janus-*")))


def test_bench_viewers_janus_baseline_in_pairs(tmp_path: Path) -> None:
    before = _janus_dirs()
    plot = tmp_path / "janus.png"
    result = bench(
        *("viewers", "--viewers", "2", "--seconds", "2", "--processes", "1"),
        *("--baseline", "janus", "--pairs", "2", "--plot", str(plot)),
        timeout=110,
    )
    assert result["baseline_server"] == "janus"
    assert result["topology"] == "loopback", "the default"
    assert result["ratio_meaning"] == "directlive / janus"
    assert result["pairs_run"] == 2
    assert len(result["pairs"]) == 2
    for pair in result["pairs"]:
        for server in ("directlive", "janus"):
            run = pair[server]
            assert all(field in run for field in FIELDS), run
            assert run["server"] == server
            assert run["viewers"] == 2
            assert run["server_cpu_ms_per_viewer_s"] > 0
            assert run["fps_mean"] > 0, f"no frame reached a {server} viewer"
            assert run["latency_ms_p50"] is not None
            assert run["samples_decoded_ok"] is True, f"{server}: frames are not the loop's"
            assert run["viewers_without_audio"] == 0
        ours, theirs = (
            pair[side]["server_cpu_ms_per_viewer_s"] for side in ("directlive", "janus")
        )
        assert abs(pair["ratio_server_cpu_per_viewer_s"] - ours / theirs) < 0.01
    assert result["baseline"] == result["pairs"][0]["janus"]
    ratios = sorted(p["ratio_server_cpu_per_viewer_s"] for p in result["pairs"])
    assert result["ratio_server_cpu_per_viewer_s"] == round(sum(ratios) / 2, 3)
    assert result["median"]["janus_fps_mean"] > 0
    assert plot.stat().st_size > 0
    assert _janus_dirs() == before, "the run left its Janus configuration behind"

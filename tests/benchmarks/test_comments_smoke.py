"""``directlive bench comments`` delivers every comment to every socket and draws a plot."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.smoke import bench


def test_bench_comments_smoke(tmp_path: Path) -> None:
    plot = tmp_path / "comments.png"
    result = bench(
        "comments", "--viewers", "20", "--rate", "10", "--seconds", "2", "--plot", str(plot)
    )
    assert result["benchmark"] == "comments"
    assert result["deliveries"] == result["expected_deliveries"] == 20 * 20
    assert result["dropped_sockets"] == 0
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p99"]
    assert result["delivered_per_s"] > 0
    assert plot.stat().st_size > 1000

"""``directlive bench cascade`` runs end to end on two real nodes and one redis-server."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.smoke import bench


def test_bench_cascade_smoke(tmp_path: Path) -> None:
    plot = tmp_path / "cascade.png"
    result = bench(
        *("cascade", "--low", "1", "--high", "2", "--seconds", "2", "--processes", "1"),
        *("--settle", "0.2", "--plot", str(plot)),
    )
    assert result["benchmark"] == "cascade"
    for phase in ("edge_low", "edge_high", "origin_high"):
        assert result[phase]["fps_mean"] > 0, f"no frame reached a viewer in {phase}"
        assert result[phase]["latency_ms_p50"] is not None
    assert result["edge_high"]["watching_on"] == "edge"
    assert result["edge_high"]["edge_cpu_ms_per_viewer_s"] > 0
    assert result["ratio_origin_cpu_high_over_low_edge_viewers"] is not None
    assert result["ratio_edge_over_single_node_cpu_per_viewer_s"] is not None
    assert "extra_latency_ms_per_hop_p50" in result
    assert "ratio_edge_over_single_node_cpu_per_viewer_s_ingest_aside" in result
    assert plot.stat().st_size > 0

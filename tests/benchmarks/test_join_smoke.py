"""``directlive bench join`` runs its three rounds end to end."""

from __future__ import annotations

from tests.benchmarks.smoke import bench


def test_bench_join_smoke() -> None:
    result = bench("join", "--viewers", "2", "--gap", "0.1")
    assert result["benchmark"] == "join"
    for name in ("whep", "socket", "whep_no_pli"):
        figures = result[name]
        assert figures["failures"] == 0, figures
        assert figures["ttff_ms_p50"] > 0
        assert figures["ttff_ms_p95"] >= figures["ttff_ms_p50"]

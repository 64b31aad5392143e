"""``directlive bench viewers`` runs end to end, with its MediaRelay baseline and a plot."""

from __future__ import annotations

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
    "server_rss_mb",
)


def test_bench_viewers_smoke(tmp_path: Path) -> None:
    plot = tmp_path / "viewers.png"
    result = bench(
        *("viewers", "--viewers", "2", "--seconds", "2", "--processes", "1"),
        *("--baseline", "--plot", str(plot)),
    )
    assert result["benchmark"] == "viewers"
    assert result["topology"] == "loopback", "MediaRelay runs on loopback only"
    for run in (result, result["baseline"]):
        assert all(field in run for field in FIELDS), run
        assert run["viewers"] == 2
        assert run["server_cpu_ms_per_viewer_s"] > 0
        assert run["fps_mean"] > 0, "no frame reached a viewer"
        assert run["latency_ms_p50"] is not None
    assert result["samples_decoded_ok"] is True
    # `directlive serve --media-workers 1`: its viewers are served by one worker process,
    # whose CPU is counted with the main process's.
    assert result["media_workers"] == 1
    assert result["server_processes"] == 2
    assert result["ratio_server_cpu_per_viewer_s"] is not None
    assert plot.stat().st_size > 0


def test_bench_viewers_compares_single_port_in_the_same_run() -> None:
    result = bench(
        *("viewers", "--viewers", "2", "--seconds", "2", "--processes", "1"),
        "--compare-single-port",
    )
    single = result["single_port"]
    assert result["topology"] == "loopback", "the default"
    assert result["udp_port"] is None
    assert isinstance(single["udp_port"], int)
    for run in (result, single):
        assert run["fps_mean"] > 0, "no frame reached a viewer"
        assert run["server_cpu_ms_per_viewer_s"] > 0
        # Lean viewers count audio from the clear RTP header, without decrypting it.
        assert run["viewers_without_audio"] == 0
        assert run["samples_decoded_ok"] is True
    assert result["ratio_single_port_over_per_connection_cpu_per_viewer_s"] > 0

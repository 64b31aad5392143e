"""Interleaved (directlive, baseline) runs of ``bench viewers``: every run, and medians.

The machine's other load drifts over minutes, so one pair says little; ``--pairs N`` runs
directlive, then the baseline, N times in turn, and the comparison is the median of the
pairs' ratios (each ratio taken within one pair, under the same drift).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

MEDIAN_FIGURES = (
    "server_cpu_ms_per_viewer_s",
    "fps_min",
    "fps_mean",
    "loss",
    "latency_ms_p50",
    "latency_ms_p99",
    "server_cpu_percent_of_core",
    "load_cpu_percent_of_core",
)


def ratio_meaning(kind: str) -> str:
    """What ``ratio_server_cpu_per_viewer_s`` divides by what, for a baseline ``kind``.

    Against Janus (a C server to beat) the ratio is directlive over Janus: at most 1.0 means
    directlive costs no more per viewer-second. Against MediaRelay (a transcoding floor) it
    stays as it always was, MediaRelay over directlive: how many times cheaper we are."""
    return "directlive / janus" if kind == "janus" else "relay / directlive"


def cpu_ratio(kind: str, ours: float, theirs: float) -> float | None:
    numerator, denominator = (ours, theirs) if kind == "janus" else (theirs, ours)
    if denominator <= 0:
        return None
    return round(numerator / denominator, 2 if kind == "janus" else 1)


def pair_ratios(kind: str, ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    return {
        "ratio_server_cpu_per_viewer_s": cpu_ratio(
            kind, ours["server_cpu_ms_per_viewer_s"], theirs["server_cpu_ms_per_viewer_s"]
        ),
        "ratio_server_cpu_per_frame": cpu_ratio(
            kind,
            ours["server_cpu_ms_per_frame_delivered"],
            theirs["server_cpu_ms_per_frame_delivered"],
        ),
    }


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def summarize(kind: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """The fields ``bench viewers`` adds for a baseline: the first pair's baseline run (as
    ``baseline``), every pair, the medians, and the median ratios at the top level."""
    listed = [
        {"directlive": ours, kind: theirs, **pair_ratios(kind, ours, theirs)}
        for ours, theirs in pairs
    ]
    median: dict[str, Any] = {}
    for side, index in (("directlive", 0), (kind, 1)):
        for figure in MEDIAN_FIGURES:
            median[f"{side}_{figure}"] = _median([pair[index].get(figure) for pair in pairs])
    ratios = {
        key: _median([pair[key] for pair in listed])
        for key in ("ratio_server_cpu_per_viewer_s", "ratio_server_cpu_per_frame")
    }
    return {
        "baseline": pairs[0][1],
        "baseline_server": kind,
        "ratio_meaning": ratio_meaning(kind),
        **ratios,
        "pairs_run": len(pairs),
        "pairs": listed,
        "median": {**median, **ratios},
    }

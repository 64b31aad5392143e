"""Conventions shared by every ``directlive bench`` command.

Each benchmark prints ONE JSON object on stdout (and nothing else there), may draw it with
``--plot FILE.png`` (matplotlib, imported only then), and shows a progress bar on stderr
for long runs when stderr is a terminal (``--progress`` forces it, ``--no-progress`` hides it).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

Bars = Mapping[str, float]
"""Named values drawn as one bar chart panel."""


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--plot FILE.png`` and ``--progress/--no-progress`` for any benchmark parser."""
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the result")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def emit(result: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Print the benchmark's one JSON object on a single line."""
    print(json.dumps(result, sort_keys=False), file=stream or sys.stdout, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/mean of durations given in seconds, as rounded milliseconds."""
    if not seconds:
        return {"p50": None, "p95": None, "mean": None}
    return {
        "p50": round(percentile(seconds, 0.5) * 1000, 1),
        "p95": round(percentile(seconds, 0.95) * 1000, 1),
        "mean": round(statistics.fmean(seconds) * 1000, 1),
    }


class Progress:
    """A one-line progress bar on stderr; a no-op when disabled."""

    def __init__(self, label: str, total: float, enabled: bool | None = None) -> None:
        self.label = label
        self.total = max(total, 1e-9)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._done = 0.0
        self._started = time.monotonic()
        self._last_draw = 0.0

    def advance(self, amount: float = 1.0) -> None:
        self.update(self._done + amount)

    def update(self, done: float) -> None:
        changed = min(done, self.total) != self._done
        self._done = min(done, self.total)
        now = time.monotonic()
        if self.enabled and changed and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        filled = int(width * self._done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        elapsed = now - self._started
        sys.stderr.write(f"\r{self.label} [{bar}] {self._done:g}/{self.total:g} {elapsed:.0f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plot_panels(path: Path, title: str, panels: Mapping[str, Bars]) -> None:
    """Draw one bar chart per panel side by side into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = max(1, len(panels))
    figure, axes = plt.subplots(1, count, figsize=(4.2 * count, 3.6), squeeze=False)
    for axis, (name, bars) in zip(axes[0], panels.items(), strict=False):
        labels = list(bars)
        values = [bars[label] for label in labels]
        drawn = axis.bar(labels, values, color="#4c72b0")
        axis.bar_label(drawn, fmt="%g", fontsize=8)
        axis.set_title(name, fontsize=10)
        axis.tick_params(axis="x", labelrotation=20, labelsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def numeric_items(result: Mapping[str, Any], keys: Sequence[str]) -> dict[str, float]:
    """The listed keys of ``result`` whose values are numbers (None/NaN skipped)."""
    items: dict[str, float] = {}
    for key in keys:
        value = result.get(key)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and not math.isnan(float(value)):  # type: ignore[arg-type]
            items[key] = float(value)  # type: ignore[arg-type]
    return items

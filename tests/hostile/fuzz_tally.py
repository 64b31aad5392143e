"""What the fuzz suite tried and saw, for its closing figures (printed at the end of the run
and written to ``.fuzz-figures.json`` in the working directory)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

FIGURES_FILE = Path(".fuzz-figures.json")


@dataclass
class FuzzTally:
    examples: Counter[str] = field(default_factory=Counter)
    """Inputs sent, per suite (``http/memory``, ``socket/redis``, ...)."""
    codes: Counter[str] = field(default_factory=Counter)
    """Every answer seen: an error code, or ``ok`` for an accepted input."""
    server_errors: list[str] = field(default_factory=list)
    """5xx answers, ``internal`` codes, logged exceptions: each one fails its test too."""

    def saw(self, suite: str, code: str) -> None:
        self.examples[suite] += 1
        self.codes[code] += 1

    def server_error(self, what: str) -> None:
        self.server_errors.append(what)

    def figures(self) -> dict[str, object]:
        return {
            "examples": sum(self.examples.values()),
            "per_suite": dict(sorted(self.examples.items())),
            "distinct_codes": len(self.codes),
            "codes": dict(sorted(self.codes.items())),
            "server_errors": len(self.server_errors),
        }

    def summary_lines(self) -> list[str]:
        if not self.examples:
            return []
        figures = self.figures()
        FIGURES_FILE.write_text(json.dumps(figures, indent=2) + "\n")
        return [
            f"fuzz: {figures['examples']} examples {figures['per_suite']}, "
            f"{figures['distinct_codes']} distinct codes, "
            f"{figures['server_errors']} server errors",
            f"fuzz codes: {figures['codes']}",
        ]


TALLY = FuzzTally()

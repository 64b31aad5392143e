"""Rules about the code itself: import direction, public surfaces, pinned internals."""

from __future__ import annotations

import ast
from pathlib import Path

import streamer
from streamer.tap import check_aiortc_internals

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "directlive": {"streamer", "fanout", "signaling", "recorder", "benchmarks"},
    "streamer": {"fanout", "signaling", "recorder", "benchmarks"},
    "fanout": {"streamer", "signaling", "recorder", "benchmarks"},
    "recorder": {"signaling", "fanout", "benchmarks"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_point_downward_only() -> None:
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = imported_packages(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_the_import_check_sees_a_violation() -> None:
    assert "signaling" in imported_packages(ROOT / "signaling" / "app.py")
    assert "fanout" in imported_packages(ROOT / "signaling" / "lives.py")


def test_aiortc_internals_we_rely_on_are_still_there() -> None:
    check_aiortc_internals()


def test_streamer_public_surface() -> None:
    assert sorted(streamer.__all__) == [
        "AnyViewerSession",
        "ForwardingStats",
        "MediaConfig",
        "MediaLive",
        "Streamer",
        "ViewerSession",
        "check_aiortc_internals",
        "configure_host_addresses",
    ]

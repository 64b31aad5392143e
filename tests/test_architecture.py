"""Rules about the code itself: import direction, public surfaces, pinned internals."""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

import streamer
from streamer.aiortc import check_internals

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "directlive": {"streamer", "fanout", "signaling", "recorder", "benchmarks"},
    "streamer": {"fanout", "signaling", "recorder", "benchmarks"},
    "fanout": {"streamer", "signaling", "recorder", "benchmarks"},
    "recorder": {"signaling", "fanout", "benchmarks"},
}
PRODUCTION = ("directlive", "streamer", "signaling", "fanout", "recorder", "benchmarks")
PINNED_LIBRARIES = ("aiortc", "aioice", "pylibsrtp")
SEAM = ROOT / "streamer" / "aiortc"
"""The one place allowed to name those libraries' private attributes."""


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
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


def test_signaling_uses_only_the_streamers_face() -> None:
    violations = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / "signaling").rglob("*.py"))
        for module in sorted(imported_modules(path))
        if module.startswith("streamer.")
    ]
    assert violations == []


def test_aiortc_internals_we_rely_on_are_still_there() -> None:
    check_internals()


def test_streamer_public_surface() -> None:
    assert sorted(streamer.__all__) == [
        "AnyViewerSession",
        "ForwardingStats",
        "HostAddresses",
        "LOOPBACK",
        "MediaConfig",
        "Streamer",
        "check_internals",
        "default_worker_count",
        "new_peer_connection",
    ]


# ---- private attributes of aiortc, aioice and pylibsrtp ---------------------------------


@cache
def library_private_names() -> frozenset[str]:
    """Every private attribute the pinned libraries define on their own objects: methods,
    class attributes and ``self._x`` fields, with name-mangled ``__x`` as ``_Class__x``."""
    names: set[str] = set()
    for library in PINNED_LIBRARIES:
        spec = importlib.util.find_spec(library)
        assert spec is not None
        assert spec.submodule_search_locations
        for folder in spec.submodule_search_locations:
            for path in Path(folder).rglob("*.py"):
                names |= _private_names_defined(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(names)


def _private_names_defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        for node in ast.walk(cls):
            name = None
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                name = node.attr
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                name = node.id
            if name is None or not name.startswith("_") or name.endswith("__"):
                continue
            if name.startswith("__"):
                name = f"_{cls.name.lstrip('_')}{name}"
            names.add(name)
    return names


def private_library_names_used(path: Path, private: frozenset[str]) -> list[str]:
    """Where ``path`` names a private attribute or module of the pinned libraries: an import
    of one, ``obj._name`` on anything but ``self``/``cls``, or ``getattr``/``setattr``/
    ``hasattr`` with such a name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    shown = path.relative_to(ROOT) if ROOT in path.parents else path
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{shown}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in PINNED_LIBRARIES:
                parts = node.module.split(".") + [alias.name for alias in node.names]
                if any(part.startswith("_") for part in parts):
                    found.append(
                        f"{where} imports {node.module} {parts[len(node.module.split('.')) :]}"
                    )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in PINNED_LIBRARIES and any(p.startswith("_") for p in parts):
                    found.append(f"{where} imports {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr in private:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"{where} .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
        ):
            name = _constant_prefix(node.args[1])
            if name and (name in private or any(p.startswith(name) for p in private)):
                found.append(f"{where} {node.func.id}(..., {name!r})")
    return found


def _constant_prefix(node: ast.expr) -> str:
    """A string argument's value, or the constant part it starts with (``_X + "y"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if node.value.startswith("_") else ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constant_prefix(node.left)
    return ""


def test_only_the_seam_names_private_attributes_of_aiortc_aioice_pylibsrtp() -> None:
    private = library_private_names()
    found = [
        use
        for package in PRODUCTION
        for path in sorted((ROOT / package).rglob("*.py"))
        if SEAM not in path.parents
        for use in private_library_names_used(path, private)
    ]
    assert found == []


def test_the_private_name_check_sees_a_use(tmp_path: Path) -> None:
    private = library_private_names()
    assert {"_codecs", "_tx_srtp", "_RTCRtpSender__encoder", "_query_consent_task"} <= private
    assert "_send_rtcp_pli" in private
    in_seam = [private_library_names_used(path, private) for path in sorted(SEAM.rglob("*.py"))]
    assert any(in_seam), "the seam names them, so the check must see it there"
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from pylibsrtp._binding import lib\n"
        "def f(transceiver, sender):\n"
        "    sender._send_keyframe = None\n"
        "    getattr(sender, '_RTCRtpSender__' + 'mid')\n"
        "    return transceiver._codecs\n"
    )
    assert len(private_library_names_used(sample, private)) == 4

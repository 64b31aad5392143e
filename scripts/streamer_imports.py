"""Print the import levels and import circles of one package's modules (``streamer`` by
default), counting imports under ``if TYPE_CHECKING:`` too.

    python3 scripts/streamer_imports.py [ROOT] [PACKAGE]

Level 0 imports no module of the package; level n imports only modules below n. Modules in
a circle have no level; each circle (strongly connected component) is printed instead.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, package: str, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != package:
                found.add(name)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    package = sys.argv[2] if len(sys.argv) > 2 else "streamer"
    paths = sorted((root / package).rglob("*.py"))
    modules = {module_name(root, path) for path in paths}
    graph = {
        module_name(root, path): imports_of(path, package, modules) - {module_name(root, path)}
        for path in paths
    }
    graph.pop(package, None)
    for targets in graph.values():
        targets.discard(package)
    levels: dict[str, int] = {}
    changed = True
    while changed:
        changed = False
        for module, targets in graph.items():
            if module not in levels and all(t in levels for t in targets):
                levels[module] = 1 + max((levels[t] for t in targets), default=-1)
                changed = True
    for level in sorted(set(levels.values())):
        members = sorted(m for m, lv in levels.items() if lv == level)
        print(f"level {level}: {', '.join(members)}")
    unlevelled = sorted(set(graph) - set(levels))
    if unlevelled:
        print(f"no level (in or above a circle): {', '.join(unlevelled)}")
    found = circles(graph)
    print(f"circles: {len(found)}")
    for component in found:
        print("  " + " <-> ".join(component))


if __name__ == "__main__":
    main()

"""Exit non-zero, naming each one, when modules of the package import each other in a circle.

    python scripts/import_cycles.py [SRC]      (SRC: the directory that holds synthset/; default src)

Every import counts, at a module's top or inside a function: a lazy import closes a circle as
surely, only later. A module's own parent packages are left out (Python has run them before it).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "synthset"


def modules(src: Path) -> dict[str, Path]:
    """Every module of the package under ``src``, by dotted name."""
    found = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` imports anywhere in its code: ``import a.b`` and
    ``from a.b import c`` (``a.b.c`` when it is a module itself), without its parent packages."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets.add(node.module)
            targets |= {f"{node.module}.{alias.name}" for alias in node.names}
    parents = {".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)}
    return {target for target in targets if target in known and target not in parents and target != name}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (its modules in import order, the first repeated at the end) per strongly
    connected group of modules (Tarjan's algorithm), in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted((_path_around(group, graph) for group in groups), key=lambda circle: circle[0])


def _path_around(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest way from the group's first module back to itself, through the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return paths[node] + [start]
                if target not in paths:
                    paths[target] = paths[node] + [target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)} is no circle")


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "src"
    known = modules(src)
    if not known:
        print(f"import_cycles: no {PACKAGE} package under {src}", file=sys.stderr)
        return 2
    found = circles({name: imports(name, path, known) for name, path in known.items()})
    for circle in found:
        print("import circle: " + " -> ".join(circle))
    if found:
        return 1
    print(f"no import circle among the {len(known)} modules of {PACKAGE} under {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

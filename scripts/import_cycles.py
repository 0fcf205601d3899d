#!/usr/bin/env python3
"""Print the import circles among PhiWall's own modules (agent, console, signatures, publisher).

A circle is a strongly connected component of more than one module in the import graph that
grimp builds from the source (lazy imports inside functions count; `if TYPE_CHECKING:`
imports do not, since they never run). Exit status 1 when there is any circle.

    .venv/bin/python scripts/import_cycles.py [PACKAGE ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "console", "signatures", "phiwall_publish")


def import_graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    for path in (ROOT / "publisher", ROOT):  # this checkout, not whichever copy the venv installed
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def main(argv: list[str]) -> int:
    packages = tuple(argv) or PACKAGES
    found = circles(import_graph(packages))
    for component in found:
        print(f"{len(component)} modules: {' '.join(component)}")
    print(f"{len(found)} import circle(s) in {', '.join(packages)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

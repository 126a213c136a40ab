#!/usr/bin/env python3
"""Checks that the crate's top-level modules import each other one way only.

Reads every src/**/*.rs, collects the top-level modules each one names through `crate::X`
(in `use` lines and paths), and fails if the graph has a cycle. `--print` shows the graph.
Submodules count as their top-level module (src/output/json.rs is `output`)."""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
# `crate::name` anywhere, and the first names inside `use crate::{a, b::c}`.
PATH_RE = re.compile(r"\bcrate::(\w+)")
GROUP_RE = re.compile(r"\buse\s+crate::\{([^}]*)\}", re.S)


def top_module(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    name = rel[0][:-3] if rel[0].endswith(".rs") else rel[0]
    return "crate" if name in ("lib", "main") else name


def graph() -> dict:
    edges: dict = {}
    for path in sorted(SRC.rglob("*.rs")):
        if "bin" in path.relative_to(SRC).parts:
            continue
        mod = top_module(path)
        text = re.sub(r"//[^\n]*", "", path.read_text())
        names = set(PATH_RE.findall(text))
        for group in GROUP_RE.findall(text):
            names |= {g.strip().split("::")[0] for g in group.split(",") if g.strip()}
        deps = edges.setdefault(mod, set())
        deps |= {n for n in names if n not in (mod, "skel", "self")}
    return edges


def find_cycle(edges: dict):
    state: dict = {}
    stack: list = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main() -> int:
    edges = graph()
    if "--print" in sys.argv:
        for mod in sorted(edges):
            print(f"{mod:10} -> {', '.join(sorted(edges[mod])) or '-'}")
    cycle = find_cycle(edges)
    if cycle:
        print("check-modules: import cycle: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    print(f"check-modules: {len(edges)} modules, no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())

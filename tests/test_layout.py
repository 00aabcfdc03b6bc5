"""The layout's promises, checked on the source: no import cycles (imports inside functions count, only
`if TYPE_CHECKING:` ones do not), no module over 400 lines, and arrows that point down the stages
(surfaces -> request -> sync -> bitbucket/auth -> the shared plain values), with the few upward arrows that remain
listed by name so the list can only shrink."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

SRC = ROOT / "src"
LEVELS = {"surfaces": 5, "request": 4, "sync": 3, "bitbucket": 2, "auth": 2,
          "models": 1, "errors": 1, "redaction": 1, "events": 1}
# Upward arrows still in the tree (module -> module): none since the engine, its steps and `check` take a typed run
# request instead of the settings table (issue 15's one boundary). Never add one.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "bbvars").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def type_checking_only(tree: ast.Module) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports() -> dict[str, set[str]]:
    """Every bbvars module each module imports (at import time or lazily), by its dotted name."""
    found = modules()
    edges: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", 0) in skip:
                continue
            if isinstance(node, ast.Import):
                edges[name] |= {alias.name for alias in node.names if alias.name in found}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                if not base.startswith("bbvars"):
                    continue
                for alias in node.names:
                    # `from pkg import mod` needs pkg (its __init__) and then mod.
                    if f"{base}.{alias.name}" in found:
                        edges[name].add(f"{base}.{alias.name}")
                if base in found and base != "bbvars":
                    edges[name].add(base)
        edges[name].discard(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative enough for this size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def level(module: str) -> int | None:
    parts = module.split(".")
    return LEVELS.get(parts[1]) if len(parts) > 1 else None


def test_no_import_cycles_lazy_imports_included():
    assert cycles(imports()) == []


def test_no_module_over_400_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_arrows_point_down_the_stages():
    upward = {(a, b) for a, targets in imports().items() for b in targets
              if level(a) is not None and level(b) is not None and level(b) > level(a)}
    assert upward - KNOWN_UPWARD == set(), "a new upward import"
    assert KNOWN_UPWARD - upward == set(), "an upward import went away: remove it from KNOWN_UPWARD"


def test_the_checker_sees_a_cycle_and_an_upward_arrow():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert level("bbvars.sync.engine") == 3 and level("bbvars.request.settings") == 4

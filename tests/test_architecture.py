"""The package's layers: every import inside ``symjax`` points down, and none forms a cycle.

Layers, bottom first: ``base``; ``symbolic`` and ``results`` (each on ``base`` only); ``numeric``
(may write chunks through ``results``); ``experiments``; ``report``; ``cli``. The package's
``__init__`` is the public facade and may name anything. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__import__("symjax").__file__).resolve().parent
#: layer -> the layers it may import (itself included).
ALLOWED = {
    "base": {"base"},
    "symbolic": {"base", "symbolic"},
    "results": {"base", "results"},
    "numeric": {"base", "results", "numeric"},
    "experiments": {"base", "results", "numeric", "symbolic", "experiments"},
    "report": {"base", "results", "numeric", "symbolic", "experiments", "report"},
    "cli": {"base", "results", "numeric", "symbolic", "experiments", "report", "cli"},
}
#: The alias module kept for scripts that import the bridge by its former name.
EXCEPTIONS = {("symjax.symbolic.bridge", "symjax.experiments.bridge")}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of ``symjax`` that ``path`` imports, resolved to full names."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("symjax"):
                continue
            for alias in node.names:  # ``from . import module`` imports the module
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("symjax")}
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


GRAPH = {_module(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_a_layer():
    loose = [m for m in GRAPH if _layer(m) is None and m not in ("symjax", "symjax.__main__")]
    assert not loose, f"modules outside the layers: {loose}"


def upward_imports(graph: dict[str, set[str]], module: str) -> list[str]:
    layer = _layer(module)
    return sorted(t for t in graph[module]
                  if (module, t) not in EXCEPTIONS and _layer(t) not in ALLOWED[layer])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (modules, first repeated at the end), or ``None``."""
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if t == m or t not in graph or t == "symjax" or (m, t) in EXCEPTIONS:
                continue
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if not state.get(t):
                found = visit(t, stack + [t])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if not state.get(m):
            found = visit(m, [m])
            if found:
                return found
    return None


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m)))
def test_imports_point_down(module):
    bad = upward_imports(GRAPH, module)
    assert not bad, f"{module} ({_layer(module)}) imports {bad}"


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_an_upward_import_and_a_cycle():
    """Negative controls on a synthetic graph: both checks must fire."""
    graph = {
        "symjax.symbolic._laws": {"symjax.base.errors", "symjax.numeric.net"},
        "symjax.report.run": {"symjax.report.text"},
        "symjax.report.text": {"symjax.report.stats"},
        "symjax.report.stats": {"symjax.report.run"},
        "symjax.base.errors": set(),
        "symjax.numeric.net": set(),
    }
    assert upward_imports(graph, "symjax.symbolic._laws") == ["symjax.numeric.net"]
    assert upward_imports(graph, "symjax.report.run") == []
    assert find_cycle(graph) == ["symjax.report.run", "symjax.report.text",
                                 "symjax.report.stats", "symjax.report.run"]
    del graph["symjax.report.stats"]
    assert find_cycle(graph) is None
    # the real graph has its edges: imports inside functions are read too
    assert "symjax.report.plots" in GRAPH["symjax.report.writer"]


def test_every_internal_import_names_a_module():
    missing = sorted({(m, t) for m, ts in GRAPH.items() for t in ts
                      if t != "symjax" and not _exists(t)})
    assert not missing, f"imports of modules that do not exist: {missing}"

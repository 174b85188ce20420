"""Dependencies point one way: edge -> use cases -> (LLM stage, shared services) -> ports -> domain.

Reads every module under app/ with `ast` (imports anywhere count, TYPE_CHECKING blocks and
function bodies included: a cycle hidden from the interpreter is still a cycle) and checks:
- the module graph has no cycle;
- app/domain imports nothing outside app/domain; app/ports.py imports only app/domain;
- the use cases (search, assistant, bundles, catalogs) never import each other: they are siblings
  over the same ports, and what they share lives below them;
- nothing below the use cases imports a use case or the edge (api, main, cli).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
USE_CASES = (
    "app.search",
    "app.assistant",
    "app.bundles",
    "app.catalogs",
    "app.events",
    "app.recommendations",
    "app.experiments",
)
EDGE = ("app.api", "app.main", "app.behaviour", "app.cli", "app.__main__")
BELOW_USE_CASES = (
    "app.domain",
    "app.ports",
    "app.llm",
    "app.adapters",
    "app.vocabularies",
    "app.impressions",
    "app.observability",
    "app.settings",
    "app.log",
)


def _name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_name(p): p for p in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, `level - 1` packages up
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from app.x import y` names module app.x.y when there is one, else app.x
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


GRAPH = _graph()


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _edges(sources: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for module, targets in sorted(GRAPH.items()):
        if _within(module, sources):
            for target in sorted(targets):
                yield module, target


def test_the_graph_is_read_from_the_code() -> None:
    """The checks below cannot pass vacuously: the walker sees the modules and edges we know of."""
    assert {"app.main", "app.search.service", "app.llm.stage", "app.domain.models"} <= GRAPH.keys()
    assert "app.domain.search" in GRAPH["app.search.service"]
    assert "app.search.service" in GRAPH["app.main"]
    assert len(GRAPH) > 50


def test_there_is_no_import_cycle() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize(
    ("layer", "allowed"), [("app.domain", ("app.domain",)), ("app.ports", ("app.domain",))]
)
def test_the_domain_and_the_ports_import_only_the_domain(layer: str, allowed: tuple[str, ...]) -> None:
    assert [(m, t) for m, t in _edges((layer,)) if not _within(t, allowed)] == []


def test_use_cases_do_not_import_each_other() -> None:
    sideways = [
        (m, t) for m, t in _edges(USE_CASES) if _within(t, USE_CASES) and m.split(".")[:2] != t.split(".")[:2]
    ]
    assert sideways == []


def test_nothing_below_the_use_cases_imports_a_use_case_or_the_edge() -> None:
    upward = [(m, t) for m, t in _edges(BELOW_USE_CASES) if _within(t, USE_CASES + EDGE)]
    assert upward == []

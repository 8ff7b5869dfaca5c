"""The package's import graph: no circles, and the arrows of the design's layout.

Every ``import`` and ``from ... import`` in ``workbench/`` is read with :mod:`ast`, including the ones inside
functions (lazy imports still make a circle at run time, just later), so this test sees what Python would.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"

FEATURES = ("workbench.summary", "workbench.ml", "workbench.experiments", "workbench.evaluation")

FORBIDDEN = {
    "workbench.evaluation": ("workbench.experiments",),
    "workbench.records": ("workbench.experiments", "workbench.evaluation"),
    "workbench.imaging": FEATURES,
    "workbench.testing": FEATURES,
}
"""Package -> packages it must never import (directly or lazily)."""


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file of every module of the package."""
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The workbench modules that module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _resolve(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield from _resolve(candidate if candidate in known else base, known)


def _resolve(target: str, known: set[str]) -> Iterator[str]:
    while target and target not in known:
        target = target.rpartition(".")[0]
    if target.startswith("workbench"):
        yield target


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the workbench modules it imports (itself and its own parent packages excluded)."""
    names = module_names(root)
    known = set(names)
    edges: dict[str, set[str]] = {}
    for name, path in names.items():
        parents = {name.rsplit(".", n)[0] for n in range(1, name.count(".") + 1)}
        edges[name] = {t for t in imports(name, path, known) if t != name and t not in parents}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
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
        for target in sorted(edges.get(node, ())):
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circles() -> None:
    assert circles(graph()) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_the_layers_point_one_way(package: str) -> None:
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in graph().items()
        if source == package or source.startswith(package + ".")
        for target in targets
        if any(target == banned or target.startswith(banned + ".") for banned in FORBIDDEN[package])
    )
    assert wrong == []


def test_the_walk_sees_lazy_imports_and_circles(tmp_path: Path) -> None:
    root = tmp_path / "workbench"
    (root / "a").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("")
    (root / "a" / "one.py").write_text("from workbench.a import two\n")
    (root / "a" / "two.py").write_text("def f():\n    from .one import x\n")
    (root / "b.py").write_text("import workbench.a.one\n")
    edges = graph(root)
    assert edges["workbench.a.two"] == {"workbench.a.one"} and edges["workbench.b"] == {"workbench.a.one"}
    assert circles(edges) == [["workbench.a.one", "workbench.a.two"]]

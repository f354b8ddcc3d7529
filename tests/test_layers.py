"""The layers of DESIGN §2 hold: no package imports one above it, no modules import in a circle.

The imports are read from the source (ast), lazy ones inside functions included: a lazy
import is still a dependency. ALLOWED is the one statement of which layer may import which;
docs/architecture.md points here.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import cellpipe

PACKAGE = Path(cellpipe.__file__).parent

# layer -> the layers it may import (besides itself); `cellpipe` is the package's __init__
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "gitnb": {"model"},
    "cache": {"model"},
    "engine": {"model", "cache"},
    "remote": {"model", "cache", "engine"},
    "kernel": {"model", "cache", "engine", "remote"},
    "server": {"model", "gitnb", "cache", "engine", "remote"},
    "cli": {"model", "gitnb", "cache", "engine", "remote", "kernel", "server"},
    "cellpipe": {"kernel"},  # load_ipython_extension
    "__main__": {"cli"},
}



def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_imports(root: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (anywhere in its code)."""
    top = root.name
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # `from pkg import module` depends on that module, not only on pkg
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in files]
                found.update(subs if len(subs) == len(node.names) else [target, *subs])
        graph[name] = {m for m in found if (m == top or m.startswith(top + ".")) and m != name}
    return graph


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(graph: dict[str, set[str]],
                   allowed: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where the importer's layer may not import the other's."""
    return {(src, dst) for src, targets in graph.items() for dst in targets
            if layer(src) != layer(dst) and layer(dst) not in allowed.get(layer(src), set())}


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The sets of modules that import each other in a circle (Tarjan's strongly connected
    components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer():
    packages = {layer(m) for m in read_imports(PACKAGE)}
    assert packages <= set(ALLOWED), f"add {packages - set(ALLOWED)} to ALLOWED"


def test_no_upward_import():
    found = upward_imports(read_imports(PACKAGE), ALLOWED)
    assert found == set(), "imports against DESIGN §2 (see ALLOWED)"


def test_no_import_cycle():
    found = cycles(read_imports(PACKAGE))
    assert found == set(), "modules that import each other"


def test_checker_finds_a_planted_upward_import(tmp_path):
    copy = tmp_path / "cellpipe"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    assert upward_imports(read_imports(copy), ALLOWED) == set()
    dag = copy / "model" / "dag.py"
    dag.write_text(dag.read_text() + "\n\ndef _late():\n    from cellpipe.kernel import session\n")
    assert upward_imports(read_imports(copy), ALLOWED) == {
        ("cellpipe.model.dag", "cellpipe.kernel.session")}


def test_checker_finds_a_cycle_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("from .a import A\n")
    (pkg / "low" / "a.py").write_text("from pkg.low import b\nA = 1\n")
    (pkg / "low" / "b.py").write_text("def f():\n    from . import a\n")
    (pkg / "low" / "c.py").write_text("from ..high import x\n")
    (pkg / "high").mkdir()
    (pkg / "high" / "__init__.py").write_text("")
    (pkg / "high" / "x.py").write_text("import pkg.low.a\n")
    graph = read_imports(pkg)
    assert graph["pkg.low.a"] == {"pkg.low.b"}
    assert graph["pkg.low.c"] == {"pkg.high.x"} and graph["pkg.high.x"] == {"pkg.low.a"}
    assert cycles(graph) == {frozenset({"pkg.low.a", "pkg.low.b"})}
    assert upward_imports(graph, {"low": set(), "high": {"low"}}) == {("pkg.low.c", "pkg.high.x")}

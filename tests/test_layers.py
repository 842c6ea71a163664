"""The library's architecture, enforced: subpackages in layers, lower layers never importing
higher ones (module-level and lazy imports alike), no import cycles between modules, and
notebooks that import the library only through its subpackages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "analysis_lib"
#: The layers, bottom first: a module may import its own layer and the ones before it.
LAYERS: tuple[str, ...] = ("core", "data", "stats", "paper", "analyses", "synthetic",
                           "simulation", "book", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(LIB.rglob("*.py"))}


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Library modules imported anywhere in ``path`` (module ``name``), as dotted names."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module and (node.module == "analysis_lib"
                                  or node.module.startswith("analysis_lib.")):
                target = node.module.removeprefix("analysis_lib").lstrip(".")
            else:
                continue
            for a in node.names:  # "from pkg import module" imports a module
                sub = f"{target}.{a.name}".lstrip(".")
                out.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("analysis_lib.") for a in node.names
                       if a.name.startswith("analysis_lib."))
    return {m for m in out if m in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports(p, m, known) - {m} for m, p in mods.items()}


def layer(module: str) -> str:
    return module.split(".")[0] if module else ""


def upward_imports(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, deps in g.items() for b in deps
                  if a and b and RANK[layer(b)] > RANK[layer(a)])


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_every_module_belongs_to_a_layer():
    stray = [m for m in modules() if m and layer(m) not in RANK]
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


def test_lower_layers_never_import_higher_ones():
    bad = upward_imports(graph())
    assert not bad, "imports from a lower layer up: " + ", ".join(f"{a} -> {b}" for a, b in bad)


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_the_checks_catch_a_violation():
    g = {"core.units": {"data.schema"}, "data.schema": {"core.units"}, "stats.nca": set()}
    assert upward_imports(g) == [("core.units", "data.schema")]
    assert cycles(g) == [["core.units", "data.schema"]]


@pytest.mark.parametrize("source", sorted((ROOT / "notebooks").glob("*.py")), ids=lambda p: p.stem)
def test_notebooks_import_the_library_through_its_subpackages(source: Path):
    known = set(modules())
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "analysis_lib":
            # only subpackages, never a flat module that no longer exists
            assert all(a.name in RANK or a.name == "__version__" for a in node.names), \
                ast.unparse(node)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis_lib."):
            assert node.module.removeprefix("analysis_lib.") in known, ast.unparse(node)

"""The project's modules import each other without a circle, and cae (pure PyTorch) never imports Optuna.

The graph is read with ``ast`` from the sources, not by importing them: an edge is an import that runs
when the module is loaded (module level, outside ``if TYPE_CHECKING:``); an import inside a function
runs on first call and cannot deadlock a load. Importing ``a.b.c`` runs the packages ``a`` and ``a.b``
first, so those are edges too, except a module's own enclosing packages, which are loading already.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cae", "search", "analysis", "benchmarks")


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _load_time_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when a module with this body is loaded: module level, through if/try/with, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            found += _load_time_imports(node.orelse if _is_type_checking(node) else node.body + node.orelse)
        elif isinstance(node, ast.Try):
            found += _load_time_imports(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])
        elif isinstance(node, ast.With):
            found += _load_time_imports(node.body)
    return found


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules that ``node`` in ``module`` loads (a ``from X import name`` loads X.name where that is a module)."""
    if isinstance(node, ast.Import):
        targets = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = module.split(".") if is_package else module.split(".")[:-1]
            anchor = package[: len(package) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        targets = {base} | {f"{base}.{alias.name}" for alias in node.names}
    loaded = set()
    for target in targets:
        parts = target.split(".")
        loaded |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}  # the packages above run first
    return {name for name in loaded if name in known}


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Each module of ``packages`` under ``root`` → the project modules its loading imports."""
    paths = {_module_name(root, path): path for package in packages for path in sorted((root / package).rglob("*.py"))}
    known = set(paths)
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        is_package = path.name == "__init__.py"
        enclosing = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)} | ({module} if is_package else set())
        edges: set[str] = set()
        for node in _load_time_imports(ast.parse(path.read_text(), str(path)).body):
            edges |= _imported(node, module, is_package, known)
        graph[module] = edges - enclosing - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (``[a, b, ..., a]``), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(reversed(error.args[1]))  # graphlib lists it against the edges' direction
    return None


def all_imports(path: Path) -> set[str]:
    """Every module ``path`` names in an import statement, wherever it stands (lazy ones included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_import_circle_among_the_project_modules() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert {"cae.metrics", "search.space.sections", "search.factories", "analysis.activations"} <= set(graph)
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph) or [])


def test_the_space_parser_imports_no_factory_even_lazily() -> None:
    """The former circle search.factories ↔ search.space.sections was closed by an import inside a function:
    the parser checks names and keys against a plain registry, and only the run builds Optuna objects."""
    for path in sorted((ROOT / "search" / "space").rglob("*.py")):
        assert not {"search.factories", "optuna"} & all_imports(path), path.relative_to(ROOT)


def test_cae_never_imports_optuna_or_the_packages_above_it() -> None:
    for path in sorted((ROOT / "cae").rglob("*.py")):
        above = {name for name in all_imports(path) if name.split(".")[0] in ("optuna", "optuna_dashboard", "search", "analysis")}
        assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        ({"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "from pkg import a\n"}, ["pkg.a", "pkg.b", "pkg.a"]),
        (  # through a relative import and a third module
            {"pkg/__init__.py": "", "pkg/a.py": "from .b import x\n", "pkg/b.py": "from pkg.c import y\n", "pkg/c.py": "from . import a\n"},
            ["pkg.a", "pkg.b", "pkg.c", "pkg.a"],
        ),
        (  # through another package's __init__, which importing any of its modules runs
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from pkg.sub.leaf import z\n",
                "pkg/sub/__init__.py": "from pkg.sub.other import w\n",
                "pkg/sub/leaf.py": "",
                "pkg/sub/other.py": "import pkg.a\n",
            },
            ["pkg.a", "pkg.sub", "pkg.sub.other", "pkg.a"],
        ),
    ],
    ids=["two-modules", "relative-three", "via-package-init"],
)
def test_the_checker_finds_a_planted_circle(tmp_path: Path, files: dict[str, str], cycle: list[str]) -> None:
    found = find_cycle(import_graph(_package(tmp_path, files), ("pkg",)))
    assert found is not None and found[:-1] in [cycle[i:-1] + cycle[:i] for i in range(len(cycle) - 1)], found


def test_the_checker_ignores_what_does_not_run_at_load(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "from pkg.a import f\n",  # a package importing its own module is how packages work
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import T\ndef f():\n    import pkg.b\n",
        "pkg/b.py": "import pkg.a\n",
    }
    graph = import_graph(_package(tmp_path, files), ("pkg",))
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": set(), "pkg.b": {"pkg.a"}}
    assert find_cycle(graph) is None

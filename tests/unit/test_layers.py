"""The code map holds: packages import only downwards (docs/architecture.md), no module imports itself
back through others, a private module (``_name.py``) is imported only inside its own package, and the
wheel's package list names every package folder."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"


def import_cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every import edge A → B for which B also reaches A (module level; TYPE_CHECKING excluded by
    the graph's construction): each is a cycle, named by its shortest chain back."""
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append((importer, *back))
    return cycles


def test_packages_import_only_from_the_layers_below() -> None:
    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0


def test_every_package_of_bulk_has_its_layer() -> None:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"][0]
    layered = {name.strip() for layer in config["layers"] for name in layer.split("|")}
    packages = {p.name for p in (REPO / "bulk").iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in (REPO / "bulk").glob("*.py") if not p.stem.startswith("__")}
    top = {f"bulk.{name}" for name in packages | modules}
    assert top == layered


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("bulk", exclude_type_checking_imports=True, cache_dir=None)
    assert import_cycles(graph) == []


def private_reaches(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """Every import of a private module (``pkg._name``) from outside ``pkg`` (and its sub-packages)."""
    reaches = []
    for module in sorted(graph.modules):
        parent, _, name = module.rpartition(".")
        if not name.startswith("_") or name.startswith("__"):
            continue
        for importer in sorted(graph.find_modules_that_directly_import(module)):
            if importer != parent and not importer.startswith(parent + "."):
                reaches.append((importer, module))
    return reaches


def test_private_modules_are_imported_only_inside_their_package() -> None:
    graph = grimp.build_graph("bulk", cache_dir=None)
    assert private_reaches(graph) == []


def private_imports(source: str) -> list[str]:
    """The modules with a private part (``bulk.x._y``) a script's source imports."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return [n for n in names if n.startswith("bulk.") and any(part.startswith("_") for part in n.split("."))]


def test_the_examples_use_public_names_only() -> None:
    assert private_imports("from bulk.sim._catalog import Catalog\nimport bulk.cli._submit") == [
        "bulk.sim._catalog", "bulk.sim._catalog.Catalog", "bulk.cli._submit"]
    for example in sorted((REPO / "examples").glob("*.py")):
        assert private_imports(example.read_text()) == [], example.name


def test_a_private_reach_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a sibling package importing another's private module is caught."""
    for folder, text in (("reach_pkg", ""), ("reach_pkg/inner", ""), ("reach_pkg/other", "")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text(text)
    (tmp_path / "reach_pkg/inner/_hidden.py").write_text("")
    (tmp_path / "reach_pkg/inner/facade.py").write_text("from reach_pkg.inner import _hidden\n")
    (tmp_path / "reach_pkg/other/user.py").write_text("from reach_pkg.inner._hidden import *\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("reach_pkg", cache_dir=None)
    assert private_reaches(graph) == [("reach_pkg.other.user", "reach_pkg.inner._hidden")]
    for name in [m for m in sys.modules if m.startswith("reach_pkg")]:
        sys.modules.pop(name)


def test_a_cycle_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a package whose modules import each other is caught."""
    package = tmp_path / "cyclic_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic_pkg import b\n")
    (package / "b.py").write_text("from cyclic_pkg import c\n")
    (package / "c.py").write_text("import cyclic_pkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclic_pkg", cache_dir=None)
    assert ("cyclic_pkg.a", "cyclic_pkg.b", "cyclic_pkg.c", "cyclic_pkg.a") in import_cycles(graph)
    sys.modules.pop("cyclic_pkg", None)


def test_the_wheel_lists_every_package_folder() -> None:
    setuptools = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "bulk").rglob("__init__.py")}
    mapped = set(setuptools["package-dir"])
    assert set(setuptools["packages"]) == folders | mapped
    assert "bench" not in setuptools["packages"]

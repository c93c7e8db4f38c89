"""The code map holds: packages import only downwards (docs/architecture.md), no module imports itself
back through others, and the wheel's package list names every package folder."""

from __future__ import annotations

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

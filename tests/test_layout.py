"""The library's layout: one subpackage per idea, each re-exporting its modules' public names."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import medimprint

SRC = Path(medimprint.__file__).parent
PACKAGES = sorted(m.name for m in pkgutil.iter_modules([str(SRC)]) if m.ispkg)


def public_names(module: Path) -> list[str]:
    tree = ast.parse(module.read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    ]


def test_the_subpackages_are_the_ideas():
    assert PACKAGES == [
        "attribution",
        "benchmark",
        "data",
        "features",
        "membership",
        "report",
        "runtime",
        "segmentation",
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_subpackage_exports_its_modules_public_names(package):
    """Every public function and class is reachable from its subpackage, and no export is stale."""
    pkg = importlib.import_module(f"medimprint.{package}")
    expected = sorted(
        name
        for module in (SRC / package).glob("*.py")
        if module.name != "__init__.py"
        for name in public_names(module)
    )
    assert pkg.__all__ == expected
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        assert obj.__module__.startswith(f"medimprint.{package}."), name
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        pkg.no_such_name  # noqa: B018


#: Modules allowed past 500 lines, each holding one idea whose parts read together.
LONG_MODULES = {
    # every check of one dataset's folders and labels, reported together in one error
    "data/validation.py",
}


def test_no_module_is_long():
    """Past ~400-500 lines a module tends to mix ideas; the long ones were split by what they
    hold (backbones, generators, the benchmark build, the attacks), and the exceptions are named."""
    lengths = {
        str(path.relative_to(SRC)): len(path.read_text().splitlines()) for path in SRC.rglob("*.py")
    }
    long = {path for path, n in lengths.items() if n > 500}
    assert long == LONG_MODULES, {path: lengths.get(path) for path in long ^ LONG_MODULES}


def test_the_architecture_page_maps_every_module():
    """docs/ARCHITECTURE.md names each module where a reader looks for it, and no module that
    is gone."""
    page = (SRC.parents[1] / "docs" / "ARCHITECTURE.md").read_text()
    mapped = set()
    package = None
    for line in page.splitlines():
        top = re.match(r"- `(\w+)/`:", line)
        if top:
            package = top[1]
        for module in re.findall(r"^\s*- `(\w+\.py)`:", line):
            mapped.add(f"{package}/{module}" if line.startswith("  ") else module)
    modules = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "__init__.py" and not path.name.startswith("_")
    }
    assert mapped == modules


def test_test_files_have_unique_names():
    """pytest imports test modules by basename (rootdir conftest, no packages): two
    ``test_selection.py`` in different folders stop the whole collection."""
    names = [path.name for path in (SRC.parents[1] / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []

"""The library's layout: one subpackage per idea, each re-exporting its modules' public names."""

from __future__ import annotations

import ast
import pkgutil
import re
from pathlib import Path

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
        "subsets",
    ]


#: The library's layers, lowest first: a module imports only from its own part and the layers
#: below, so each stage reads and tests on its own (data never reaches into membership; the
#: shared pieces, e.g. nearest neighbours and saving a figure, live low, not in a stage).
LAYERS = [
    {"errors", "names", "io"},
    {"runtime", "clustering", "evaluation", "neighbours"},
    {"data", "benchmark"},
    {"config", "features", "segmentation"},
    {"membership", "attribution", "subsets"},
    {"report"},
]


def imported_parts(module: Path) -> set[str]:
    """The parts of the library (subpackage or top-level module) ``module`` imports anywhere,
    function-level imports included."""
    parts = set()
    for node in ast.walk(ast.parse(module.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        parts |= {name.split(".")[1] for name in names if name.startswith("medimprint.")}
    return parts


def test_no_part_of_the_library_imports_a_higher_layer():
    layer = {part: level for level, parts in enumerate(LAYERS) for part in parts}
    modules = [path for path in SRC.rglob("*.py") if path.parent != SRC or path.stem != "__init__"]
    named = {path.relative_to(SRC).parts[0].removesuffix(".py") for path in modules}
    assert named == set(layer), "every part of the library sits in one layer"
    upward = {
        f"{path.relative_to(SRC)} imports {part}"
        for path in modules
        for part in imported_parts(path)
        if layer[part] > layer[path.relative_to(SRC).parts[0].removesuffix(".py")]
    }
    assert upward == set()


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check is not vacuous: a data module importing membership is caught."""
    module = tmp_path / "groups.py"
    module.write_text("def f():\n    from medimprint.membership.attacks import gan_leaks_scores\n")
    assert imported_parts(module) == {"membership"}


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

"""One source for the workflow's names: the schema, the Snakefile and the library agree."""

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from medimprint import names

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
RULES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def enum(path: str) -> tuple:
    """The enum at ``path`` (dot-separated keys) of the config schema, as a tuple."""
    node = yaml.safe_load(SCHEMA.read_text())
    for key in path.split("."):
        node = node[key]
    return tuple(node["enum"])


@pytest.mark.parametrize(
    "path, expected",
    [
        ("properties.regions.properties.crops.items", names.CROPS),
        ("properties.regions.properties.methods.items", names.CLUSTERING_METHODS),
        ("properties.attacks.properties.methods.items", names.ATTACKS),
        ("properties.attribution.properties.reducers.items", names.REDUCERS),
        ("properties.attribution.properties.methods.items", names.CLUSTERING_METHODS),
        ("properties.attribution.properties.k.items", names.K_MODES),
        ("properties.subsets.properties.methods.items", names.SUBSET_METHODS),
        ("$defs.build.properties.subsets.properties.generator", names.GENERATOR_FAMILIES),
        ("$defs.build.properties.membership.additionalProperties.properties.generator",
         names.GENERATOR_FAMILIES),
    ],
)  # fmt: skip
def test_schema_enums_are_the_names(path, expected):
    assert enum(path) == expected


def test_run_ids_round_trip():
    run = names.attribution_run_id("efficientnet_lite0+dct", "whiten", "kmeans", "estimated")
    assert run == "efficientnet_lite0+dct/whiten/kmeans/k-estimated/clean"
    assert names.parse_attribution_run_id(run) == (
        "efficientnet_lite0+dct",
        "whiten",
        "kmeans",
        "estimated",
        names.CLEAN,
    )
    with pytest.raises(ValueError, match="not an attribution run id"):
        names.parse_attribution_run_id("regions/full/lbp/kmeans/min")
    assert names.region_run_id("lung", "lbp", "kmeans", "min") == "regions/lung/lbp/kmeans/min"
    assert names.runs_in("patch_leaks", "pixels") and not names.runs_in("patch_leaks", "lbp")
    assert names.parse_subset_run_id(names.subset_run_id("knn", "dct")) == ("knn", "dct")
    with pytest.raises(ValueError, match="not a subsets run id"):
        names.parse_subset_run_id("subsets/svm/dct")


def test_the_rules_spell_no_list_or_run_id_of_their_own():
    """common.smk builds wildcard constraints and run ids from `names`, and output paths from
    the rules that declare them, nothing by hand."""
    text = "\n".join(path.read_text() for path in RULES)
    assert "results/" not in (REPO / "workflow" / "rules" / "common.smk").read_text()
    for listed in (names.CROPS, names.REDUCERS, names.CLUSTERING_METHODS, names.K_MODES,
                   names.GENERATOR_FAMILIES, names.ATTACKS, names.DISTANCES):  # fmt: skip
        assert "|".join(listed) not in text
    for template in ("/k-{", 'f"attacks/', 'f"regions/', 'f"controls/', '"attacks/ensemble"',
                     'f"subsets/'):  # fmt: skip
        assert template not in text, template


def test_planning_the_workflow_imports_no_sklearn_or_matplotlib(tmp_path):
    """A dry run parses the DAG in one process: it must not pay for the analysis libraries."""
    plan = ("-n", "-d", str(tmp_path), "--configfile", str(REPO / "config" / "test.yaml"))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "snakemake", *plan],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = set(re.findall(r"^import time:.*\|\s+([\w.]+)$", proc.stderr, re.M))
    assert "medimprint.names" in imported  # the measurement sees the workflow's imports
    heavy = {m.split(".")[0] for m in imported} & {"sklearn", "matplotlib", "skimage", "scipy"}
    assert not heavy


def test_the_schema_pattern_of_attribution_generators_lists_the_families():
    node = yaml.safe_load(SCHEMA.read_text())["$defs"]["attribution_generator"]
    families = node["pattern"].rsplit("(", 1)[1].split(")")[0].split("|")
    assert tuple(families) == names.GENERATOR_FAMILIES

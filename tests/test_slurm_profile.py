"""profiles/slurm without a cluster: every rule that asks for a GPU, as Snakemake loads the
workflow (not a hand list), goes to the `gpu` partition with its GPUs and CPUs per GPU; no
other rule asks for either; the names in the profile are rules of the workflow; Snakemake loads
the profile and plans the test config's GPU jobs onto the gpu partition; and a typed GPU
(`gpu_model`) reaches sbatch as the plugin's `--gpus=<model>:<count>`. Runs in seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml
from conftest import REPO, snakemake

PROFILE = REPO / "profiles" / "slurm"
TEST_CONFIG = REPO / "config" / "test.yaml"
# What a site may ask for a GPU with: none of these belongs to a CPU rule.
GPU_KEYS = ("gpu", "gpu_model", "cpus_per_gpu", "tasks_per_gpu")

# Each rule of the workflow with its own resources (as in its `resources:`, before the profile),
# in a process of its own: the Snakemake API changes the working directory and logging.
RULE_RESOURCES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

snakefile, configfile, workdir, out = map(Path, sys.argv[1:])

def plain(value):  # Snakemake 9 wraps resources in Resource objects; a function stays one
    if callable(value) or getattr(value, "is_evaluable", lambda: False)():
        return "<function>"
    return getattr(value, "value", value)

with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(
        ResourceSettings(),
        ConfigSettings(configfiles=[configfile]),
        snakefile=snakefile,
        workdir=workdir,
    )._workflow
    rules = {
        rule.name: {k: plain(v) for k, v in rule.resources.items() if not k.startswith("_")}
        for rule in workflow.rules
    }
out.write_text(json.dumps(rules, default=str))
"""


@cache
def rule_resources() -> dict[str, dict]:
    """{rule: its resources} for every rule of the workflow, loaded with config/test.yaml."""
    with tempfile.TemporaryDirectory(prefix="medimprint-rules-") as tmp:
        out = Path(tmp) / "rules.json"
        proc = subprocess.run(
            [sys.executable, "-c", RULE_RESOURCES, REPO / "Snakefile", TEST_CONFIG, tmp, out],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        return json.loads(out.read_text())


def asks_for_gpu(resources: dict) -> bool:
    return resources.get("gpu", 0) != 0 or "gpu" in str(resources.get("gres", ""))


def gpu_rules() -> set[str]:
    """The rules whose `resources:` ask for a GPU (gpu=N or a gpu gres)."""
    return {rule for rule, resources in rule_resources().items() if asks_for_gpu(resources)}


def profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def wanted(rule: str) -> dict:
    """What the profile gives ``rule``: default-resources, then its set-resources."""
    config = profile()
    return {**config["default-resources"], **config["set-resources"].get(rule, {})}


def test_every_gpu_rule_goes_to_the_gpu_partition():
    rules = rule_resources()
    gpu = gpu_rules()
    assert gpu, "no rule of the workflow asks for a GPU"
    assert "all" in rules and not gpu >= set(rules)  # the workflow was read, not just its GPUs
    unrouted = sorted(
        rule
        for rule in gpu
        if wanted(rule).get("slurm_partition") != "gpu"
        or wanted(rule).get("gpu") != rules[rule].get("gpu", 1)
    )
    assert not unrouted, (
        f"GPU rules without slurm_partition 'gpu' and their gpu count in "
        f"profiles/slurm/config.yaml set-resources: {unrouted}"
    )
    for rule in gpu:
        want = wanted(rule)
        assert isinstance(want.get("cpus_per_gpu"), int) and want["cpus_per_gpu"] > 0, rule
        # the plugin would pass both --gres and --gpus
        assert "gpu" not in str(want.get("gres", "")), rule
        assert "cpus_per_task" not in want, rule  # it would replace cpus_per_gpu


def test_no_cpu_rule_asks_for_a_gpu_or_the_gpu_partition():
    config = profile()
    assert not set(GPU_KEYS) & set(config["default-resources"])
    assert config["default-resources"]["slurm_partition"] != "gpu"
    for rule in set(rule_resources()) - gpu_rules():
        want = wanted(rule)
        assert want["slurm_partition"] != "gpu", rule
        assert not set(GPU_KEYS) & set(want), rule
        assert "gpu" not in str(want.get("gres", "")), rule


def test_the_profile_names_only_rules_of_the_workflow():
    """A renamed rule left in set-resources or groups would silently lose its resources or its
    group job."""
    config = profile()
    rules = set(rule_resources())
    named = set(config["set-resources"]) | {entry.split("=")[0] for entry in config["groups"]}
    assert named <= rules, sorted(named - rules)


def planned_resources(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of each job of a dry run's output, group members included."""
    jobs = []
    for block in re.split(r"^\s*rule (?=\S+:$)", output, flags=re.M)[1:]:
        rule = block.split(":", 1)[0]
        line = re.search(r"^\s*resources: (.*)$", block, re.M)
        assert line, block
        jobs.append((rule, dict(item.split("=", 1) for item in line.group(1).split(", "))))
    return jobs


def test_snakemake_plans_gpu_jobs_on_the_gpu_partition(tmp_path):
    """The profile as Snakemake reads it (YAML anchors and all), on the test config and its UNet
    variant: each job's resources as the plugin would get them."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["segmentation"] = {"method": "unet", "epochs": 2, "batch_size": 8}
    unet = tmp_path / "unet.yaml"
    unet.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = []
    for configfile in (TEST_CONFIG, unet):
        proc = snakemake(
            tmp_path / configfile.stem,
            *("--workflow-profile", str(PROFILE), "--configfile", str(configfile), "-n"),
        )
        jobs += planned_resources(proc.stdout)
    planned_gpu = set()
    for rule, resources in jobs:
        gpus = int(resources.get("gpu", 0))
        assert (gpus > 0) == (resources["slurm_partition"] == "gpu"), (rule, resources)
        if gpus:
            planned_gpu.add(rule)
            assert int(resources["cpus_per_gpu"]) > 0, (rule, resources)
    assert planned_gpu and planned_gpu <= gpu_rules()
    assert {rule for rule, _ in jobs} > planned_gpu  # CPU jobs were planned too


class Resources(dict):
    __getattr__ = dict.__getitem__


class Job:
    def __init__(self, resources: dict):
        self.resources = Resources(resources)


def test_a_typed_gpu_is_the_plugins_gpu_model():
    """A site with typed GPUs uncomments `gpu_model` beside `gpu: 1`: sbatch then gets
    --gpus=<model>:1 and no --gres (a gres beside the rule's gpu=1 would ask twice)."""
    plugin = pytest.importorskip("snakemake_executor_plugin_slurm.utils")
    for rule in gpu_rules():
        want = {**rule_resources()[rule], **wanted(rule)}
        assert plugin.set_gres_string(Job(want)).split() == [f"--gpus={want['gpu']}"]
        typed = {**want, "gpu_model": "a100"}
        assert plugin.set_gres_string(Job(typed)).split() == [f"--gpus=a100:{want['gpu']}"]
    text = (PROFILE / "config.yaml").read_text()
    assert re.search(r'^\s*# gpu_model: "\w+"$', text, re.M)  # the hint, where a site sets it

"""profiles/slurm against a real Slurm cluster: a single node on localhost (munged, slurmctld,
slurmd; one fake GPU; partitions `cpu` and `gpu`) that tests/slurm/start-cluster.sh starts for
this module and stop-cluster.sh stops after it.

Needs root and Debian's `slurm-wlm` and `munge` packages; skipped without them, unless
MEDIMPRINT_REQUIRE_SLURM=1 (CI) turns the skip into a failure. SLURM_TEST_DIR naming a cluster
that start-cluster.sh already started reuses it (and leaves it running).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import BIN, REPO
from test_slurm_profile import gpu_rules

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

SCRIPTS = REPO / "tests" / "slurm"
PROFILE = REPO / "profiles" / "slurm"
TEST_CONFIG = REPO / "config" / "test.yaml"
# The plugin's default status command, sacct, needs an accounting database; squeue sees finished
# jobs for MinJobAge (600 s in the test cluster).
STATUS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1"]
# A built dataset's lbp features: CPU rules (real_slices, split_real, write_layout, ingest) and
# GPU rules (train_generator x3, extract_features), 8 jobs.
TARGET = "results/tiny_db1/features/full/lbp.h5"
RULES = {
    "real_slices": 1,
    "split_real": 1,
    "train_generator": 4,
    "write_layout": 1,
    "ingest": 1,
    "extract_features": 1,
}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")


@dataclass
class Cluster:
    env: dict[str, str]  # SLURM_CONF and PATH pointing at it

    def run(self, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def snakemake(self, workdir: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
        """The workflow in ``workdir`` with the SLURM profile, as a user would start it."""
        return self.run(
            str(BIN / "snakemake"),
            *("-s", str(REPO / "Snakefile"), "-d", str(workdir)),
            *("--workflow-profile", str(PROFILE), *STATUS),
            *args,
            timeout=timeout,
        )

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job slurmctld remembers, as {job id: {field: value}} of `scontrol show job`."""
        proc = self.run("scontrol", "show", "job", "--oneliner")
        assert proc.returncode == 0, proc.stderr
        jobs = {}
        for line in proc.stdout.splitlines():
            fields = dict(token.split("=", 1) for token in line.split() if "=" in token)
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs

    def jobs_of(self, proc: subprocess.CompletedProcess) -> dict[str, dict[str, str]]:
        """The Slurm jobs of one snakemake run (their name is its SLURM run ID), with `rule`."""
        run_id = re.search(r"SLURM run ID: (\S+)", proc.stdout + proc.stderr)
        assert run_id, proc.stdout + proc.stderr
        jobs = {}
        for job_id, job in self.jobs().items():
            if job.get("JobName") == run_id.group(1):
                rule = job["Comment"].removeprefix("rule_").split("_wildcards_")[0]
                jobs[job_id] = {**job, "rule": rule}
        return jobs


def unavailable(reason: str) -> None:
    if os.environ.get("MEDIMPRINT_REQUIRE_SLURM") == "1":
        pytest.fail(f"MEDIMPRINT_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_env(state: Path) -> dict[str, str]:
    """This environment without the caller's Slurm settings, pointed at the cluster in ``state``
    (its bin/ holds the srun that restores SLURM_CONF inside jobs)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_", "SALLOC_"))
    }
    env["SLURM_CONF"] = str(state / "slurm.conf")
    env["PATH"] = f"{state / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    given = os.environ.get("SLURM_TEST_DIR")
    if given and (Path(given) / "slurm.conf").is_file():
        running = Cluster(cluster_env(Path(given).resolve()))
        if running.run("sinfo", "-h").returncode == 0:
            yield running
            return
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])  # the daemons
    missing = [
        name
        for name in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun", "scontrol")
        if shutil.which(name, path=path) is None
    ]
    if missing:
        missing_list = ", ".join(missing)
        unavailable(f"Slurm not installed (no {missing_list}): apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        unavailable("the test Slurm cluster needs root (slurmd runs the jobs)")
    state = tmp_path_factory.mktemp("slurm")
    # Ports of its own: a system Slurm or another test session may hold the default ones.
    ports = {"SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
    start = subprocess.run(
        ["bash", str(SCRIPTS / "start-cluster.sh"), str(state)],
        env={**os.environ, **ports},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    try:
        if start.returncode != 0:
            pytest.fail(f"start-cluster.sh failed:\n{start.stdout}\n{start.stderr}")
        yield Cluster(cluster_env(state))
    finally:
        subprocess.run(
            ["bash", str(SCRIPTS / "stop-cluster.sh"), str(state)],
            capture_output=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module")
def finished(cluster, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A workdir where the test config's TARGET was built by Slurm jobs."""
    workdir = tmp_path_factory.mktemp("slurm-run")
    proc = cluster.snakemake(
        workdir, "--configfile", str(TEST_CONFIG), "--jobs", "4", TARGET, timeout=900
    )
    if proc.returncode != 0:
        pytest.fail(f"snakemake on Slurm failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return workdir, proc


def test_every_job_runs_as_a_slurm_job(finished, cluster):
    workdir, proc = finished
    out = proc.stdout + proc.stderr
    assert (workdir / TARGET).is_file()
    assert "localrule" not in out  # nothing ran on the submit host
    ids = SUBMITTED.findall(out)
    assert len(ids) == len(set(ids)) == sum(RULES.values()), out[-4000:]
    jobs = cluster.jobs_of(proc)
    assert set(jobs) == set(ids)
    assert {job["JobState"] for job in jobs.values()} == {"COMPLETED"}
    rules = [job["rule"] for job in jobs.values()]
    assert {rule: rules.count(rule) for rule in set(rules)} == RULES


def test_jobs_ask_slurm_for_the_profiles_resources(finished, cluster):
    """GPU rules (those whose `resources:` ask for a GPU) get the `gpu` partition, one GPU
    (`--gpus=1`) and cpus_per_gpu CPUs with it; CPU rules the defaults and no GPU."""
    _, proc = finished
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    jobs = cluster.jobs_of(proc).values()
    assert jobs
    gpu = gpu_rules()  # derived from the workflow's `resources:`
    for job in jobs:
        rule = job["rule"]
        want = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
        assert job["Partition"] == want["slurm_partition"], rule
        assert job["MinMemoryNode"] == f"{want['mem_mb']}M", rule
        assert job["TimeLimit"] == f"{want['runtime'] // 60:02d}:{want['runtime'] % 60:02d}:00"
        gres = job.get("TresPerJob", "")
        if rule in gpu:
            assert job["Partition"] == "gpu", rule
            # 22.05 writes gres:gpu:1, later releases gres/gpu:1
            assert re.fullmatch(rf"gres[:/]gpu[:=]{want['gpu']}", gres), (rule, gres)
            per_gpu = job.get("CpusPerTres", "")
            assert re.fullmatch(rf"gres[:/]gpu[:=]{want['cpus_per_gpu']}", per_gpu), rule
            assert int(job["NumCPUs"]) == want["gpu"] * want["cpus_per_gpu"], rule
        else:
            assert "gpu" not in gres and "gpu" not in job.get("CpusPerTres", ""), (rule, gres)
    assert set(RULES) & gpu and set(RULES) - gpu  # both kinds ran


def test_the_clustering_grid_runs_as_one_group_job(finished, cluster, tmp_path):
    """profiles/slurm groups the attribution grid (48 runs of the test config) into one sbatch
    job and the summaries into another, so the submissions grow with datasets x backbones; the
    outputs stay per run, and a changed reducer plans only its own runs."""
    workdir, _ = finished
    target = "results/tiny_attribution/metrics.tsv"
    proc = cluster.snakemake(
        workdir, "--configfile", str(TEST_CONFIG), "--jobs", "4", target, timeout=900
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    config = yaml.safe_load(TEST_CONFIG.read_text())
    grid = config["attribution"]
    views = 1 + len(grid["robustness"])
    feature_sets = len(config["backbones"]) + len(grid["combine"])
    runs = feature_sets * len(grid["reducers"]) * len(grid["methods"]) * len(grid["k"]) * views
    clusters = list((workdir / "results/tiny_attribution/attribution").glob("*/*/*_metrics.tsv"))
    assert len(clusters) == runs == 48
    jobs = cluster.jobs_of(proc)
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    groups = [entry.split("=")[1] for entry in profile["groups"]]
    for job in jobs.values():  # a group job is named after its group, then the rules in it
        job["rule"] = next((g for g in groups if job["rule"].startswith(g + "_")), job["rule"])
    rules = [job["rule"] for job in jobs.values()]
    assert {rule: rules.count(rule) for rule in set(rules)} == {
        "ingest": 1,
        "extract_features": 2,  # lbp, resnet50
        "extract_perturbed_features": 2,  # their jpeg90 test images
        "attribution_runs": 1,  # the whole grid
        "summaries": 1,  # the dataset's metrics table
    }
    assert {job["JobState"] for job in jobs.values()} == {"COMPLETED"}
    gpu = gpu_rules()  # extract_perturbed_features too (`use rule extract_features`)
    for job in jobs.values():
        assert (job["Partition"] == "gpu") == (job["rule"] in gpu), (job["rule"], job["Partition"])
    (grid_job,) = [job for job in jobs.values() if job["rule"] == "attribution_runs"]
    assert int(grid_job["NumCPUs"]) == profile["cores"]  # runs side by side, the rest in series
    changed = {**config, "attribution": {**grid, "reducers": [grid["reducers"][0], "pca95"]}}
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed, sort_keys=False))  # params compare in order
    dry = cluster.snakemake(workdir, "--configfile", str(path), "-n", target, timeout=120)
    planned = re.findall(r"^\s*rule (\S+):$", dry.stdout, re.M)
    assert {rule: planned.count(rule) for rule in set(planned)} == {
        "attribution_clusters": runs // len(grid["reducers"]),
        "dataset_metrics": 1,
    }, dry.stdout[-3000:]


def test_a_failing_job_is_reported_not_waited_for(cluster, tmp_path):
    """A job that exits non-zero (ingest of an unreadable image) ends the run with an error
    that names the rule, the Slurm job and the rule's own message, after the profile's retry."""
    root = tmp_path / "data"
    (root / "generated").mkdir(parents=True)
    (root / "generated" / "g1.png").write_text("not a png")
    folders = ("generated", "real_used", "real_not_used", "real_unknown")
    membership = {folder: f"{folder}/*.png" for folder in folders}
    dataset = {"root": str(root), "membership": {**membership, "test_labels": "test_labels.csv"}}
    config = {"datasets": {"broken": dataset}, "backbones": {"lbp": {}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/broken/manifest.tsv"
    proc = cluster.snakemake(
        tmp_path / "work", "--configfile", str(path), "--jobs", "2", target, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    ids = SUBMITTED.findall(out)
    retries = yaml.safe_load((PROFILE / "config.yaml").read_text())["retries"]
    assert len(ids) == 1 + retries, out[-4000:]
    assert "Error in rule ingest" in out
    for job_id in ids:
        assert f"SLURM-job '{job_id}' failed, SLURM status is: 'FAILED'" in out
    jobs = cluster.jobs_of(proc)
    assert set(jobs) == set(ids)
    assert {(job["rule"], job["JobState"]) for job in jobs.values()} == {("ingest", "FAILED")}
    assert "not a readable PNG" in out  # the rule's log, shown by show-failed-logs
    assert not (tmp_path / "work" / target).exists()

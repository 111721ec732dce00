"""Faults: a run killed (SIGKILL to Snakemake and its jobs) in the middle of feature extraction
and of autoencoder training resumes with `--rerun-incomplete` to byte-identical results, leaving
no partial output under a final name; a job that fails (a simulated out-of-memory) fails the
run with its log shown, and the rerun resumes from that job."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, REPO, snakemake
from test_workflow import planned_jobs

pytestmark = pytest.mark.workflow

INJECT = REPO / "tests" / "inject"  # sitecustomize.py: fault injection for the jobs
FEATURES = "results/tiny_db1/features/full/resnet50.h5"
MODEL = "results/tiny_db1/autoencoder/model.pt"


def small_config(folder: Path) -> Path:
    """The test config's membership database only, with a CNN slow enough to be caught while
    extracting and an autoencoder that trains for many epochs."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    del config["builds"]["tiny"]["attribution"], config["datasets"]["tiny_attribution"]
    del config["attribution"]
    config["backbones"] = {"resnet50": {"weights": "random", "input_size": 224, "batch_size": 4}}
    config["regions"] = {
        "backbones": ["resnet50"],
        "crops": ["full"],
        "methods": ["kmeans"],
        "k": [2, 4],
    }
    config["attacks"] = {"spaces": ["resnet50"]}
    config["autoencoder"] = {"epochs": 400, "batch_size": 4, "patience": 400}
    path = folder / "faults.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def outputs(workdir: Path) -> dict[str, bytes]:
    """Metrics tables and submissions of a finished run, by path."""
    results = workdir / "results"
    files = [*results.glob("**/metrics.tsv"), *results.glob("*/submissions/*.csv")]
    return {str(f.relative_to(workdir)): f.read_bytes() for f in sorted(files)}


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    return small_config(tmp_path_factory.mktemp("config"))


@pytest.fixture(scope="module")
def reference(config, tmp_path_factory) -> Path:
    """An uninterrupted run."""
    workdir = tmp_path_factory.mktemp("reference")
    snakemake(workdir, "--configfile", str(config), "--cores", "2")
    return workdir


def kill_when(workdir: Path, config: Path, target: str, log: str, text: str) -> None:
    """Start the workflow for ``target``; SIGKILL Snakemake and its jobs as soon as ``log``
    (a job's log, relative to ``workdir``) contains ``text``."""
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    cmd += ["--configfile", str(config), "--cores", "2", "--rerun-incomplete", target]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 600
    try:
        while text not in _read(workdir / log):
            assert proc.poll() is None, f"the run ended before {log} showed {text!r}"
            assert time.monotonic() < deadline, f"{log} never showed {text!r}"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_killed_runs_resume_to_identical_results(config, reference, tmp_path):
    workdir = tmp_path / "work"
    feature_log = "logs/extract_features/tiny_db1/full/resnet50.log"
    kill_when(workdir, config, FEATURES, feature_log, "extracting resnet50")
    assert not (workdir / FEATURES).exists()  # stores appear under their name only when whole
    snakemake(workdir, "--configfile", str(config), "--unlock")
    kill_when(workdir, config, MODEL, "logs/train_autoencoder/tiny_db1.log", "2/400 epochs")
    assert not (workdir / MODEL).exists()
    snakemake(workdir, "--configfile", str(config), "--unlock")
    proc = snakemake(workdir, "--configfile", str(config), "--cores", "2", "--rerun-incomplete")
    log = proc.stdout + proc.stderr
    assert "rule extract_features" in log and "rule train_autoencoder" in log  # redone
    resumed, clean = outputs(workdir), outputs(reference)
    assert len(clean) >= 10 and resumed.keys() == clean.keys()
    assert [path for path in clean if resumed[path] != clean[path]] == []


def test_a_failing_job_fails_the_run_and_the_rerun_resumes_there(config, tmp_path):
    env = {"PYTHONPATH": str(INJECT), "MEDIMPRINT_TEST_FAIL_RULE": "train_autoencoder"}
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path)]
    cmd += ["--configfile", str(config), "--cores", "2", MODEL]
    failed = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Error in rule train_autoencoder" in out
    assert "MemoryError: simulated out of memory in rule train_autoencoder" in out  # its log
    assert not (tmp_path / MODEL).exists()
    plan = snakemake(tmp_path, "--configfile", str(config), "-n", MODEL)
    assert planned_jobs(plan.stdout) == {"train_autoencoder": 1}  # nothing before it again
    snakemake(tmp_path, "--configfile", str(config), "--cores", "2", MODEL)
    assert (tmp_path / MODEL).is_file()

"""Shared fixtures: repository paths and a Snakemake runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
BIN = Path(sys.executable).parent


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` and return the finished process."""
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: tiny batches gain nothing from more, and OpenMP spin-waiting makes
    them several times slower when the cores are shared with other processes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shared_data(name: str) -> Path:
    """A data set of ../shared/data (beside the repository) that has its manifest.csv; its
    absence skips the test, except in CI (CI=true), where it is a failure."""
    path = SHARED_DATA / name
    if not (path / "manifest.csv").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the shared data {name} is missing at {path}")
        pytest.skip(f"shared data {name} not found at {path}")
    return path


@pytest.fixture(scope="session")
def luna16() -> Path:
    """The LUNA16 slices of three patients (../shared/data/luna16-3patients)."""
    return shared_data("luna16-3patients")


@pytest.fixture(scope="session")
def tcga() -> Path:
    """The TCGA slices of 54 patients (../shared/data/tcga-lung-ct)."""
    return shared_data("tcga-lung-ct")


def ok_slices(luna16: Path, n: int, size: int = 64) -> np.ndarray:
    """``n`` evenly spaced LUNA16 slices of 'ok' quality, resized to ``size`` squared (uint8)."""
    from PIL import Image

    from medimprint.io import read_gray_png

    if not (luna16 / "slices").is_dir():
        pytest.skip(f"no slices folder in {luna16}")
    manifest = pd.read_csv(luna16 / "manifest.csv")
    files = manifest.loc[manifest["slice_quality"] == "ok", "file"].to_numpy()
    files = files[np.linspace(0, len(files) - 1, n).round().astype(int)]
    return np.stack(
        [
            np.asarray(
                Image.fromarray(read_gray_png(luna16 / f)).resize((size, size), Image.BILINEAR)
            )
            for f in files
        ]
    )

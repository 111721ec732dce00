"""Style gates: ruff, snakefmt and snakemake --lint must be clean."""

import subprocess

import pytest
from conftest import BIN, REPO

PYTHON_CODE = ["src", "tests", "workflow/scripts", "benchmarks"]
CHECKS = {  # without ruff's cache, which can hide a changed import classification
    "ruff check": [str(BIN / "ruff"), "check", "--no-cache", *PYTHON_CODE],
    "ruff format": [str(BIN / "ruff"), "format", "--no-cache", "--check", *PYTHON_CODE],
    "snakefmt": [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
    "snakemake --lint": [str(BIN / "snakemake"), "--lint"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_clean(name):
    proc = subprocess.run(CHECKS[name], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} is not clean:\n{proc.stdout}\n{proc.stderr}"

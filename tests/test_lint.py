"""Style gates: ruff, snakefmt and snakemake --lint must be clean."""

import subprocess

import pytest
from conftest import BIN, REPO

CHECKS = {
    "ruff check": [str(BIN / "ruff"), "check", "--no-cache", "src", "tests", "workflow/scripts"],
    "ruff format": [str(BIN / "ruff"), "format", "--no-cache", "--check", "src", "tests", "workflow/scripts"],
    "snakefmt": [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
    "snakemake --lint": [str(BIN / "snakemake"), "--lint"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_clean(name):
    proc = subprocess.run(CHECKS[name], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} is not clean:\n{proc.stdout}\n{proc.stderr}"

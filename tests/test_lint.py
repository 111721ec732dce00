"""Style gates: ruff, snakefmt and snakemake --lint must be clean."""

import re
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


def test_no_rule_hands_values_to_a_shell():
    """Every rule runs a Python script (values reach it as objects, never through a shell
    command line), so paths with spaces or shell metacharacters cannot inject anything."""
    sources = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    text = "\n".join(path.read_text() for path in sources)
    rules = re.findall(r"^(?:use )?rule (\w+)", text, flags=re.MULTILINE)
    directives = re.findall(r"^ {4}(shell|run|script|wrapper|notebook):", text, re.MULTILINE)
    assert "shell" not in directives and "run" not in directives
    # `rule all` has no action; `use rule ... with:` inherits its script
    uses = len(re.findall(r"^use rule", text, flags=re.MULTILINE))
    assert directives.count("script") == len(rules) - 1 - uses

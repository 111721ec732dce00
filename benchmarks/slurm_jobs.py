"""How many `sbatch` jobs a SLURM run of a config submits, with and without the group jobs of
`profiles/slurm` (planned by a dry run: no cluster needed).

Without groups every job but the local ones is one sbatch job; with them each group job is one.

    .venv/bin/python benchmarks/slurm_jobs.py config/luna16.yaml config/demo-full.yaml
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def plan(config: Path, workdir: Path) -> str:
    """The dry run's output for ``config`` with the SLURM profile, in an empty ``workdir``."""
    run = ("-n", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(config))
    proc = subprocess.run(
        [str(SNAKEMAKE), *run, "--workflow-profile", str(REPO / "profiles/slurm")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise SystemExit(f"dry run of {config} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def count(output: str) -> tuple[int, int, dict[str, int]]:
    """(sbatch jobs without groups, with groups, {group: jobs inside}) of a dry run's output.

    Top-level entries (not indented) are submissions: a group job, or a job outside groups;
    local rules and the target rule `all` (nothing to run) are not submitted."""
    ungrouped, grouped, inside = 0, 0, {}
    group = None
    for line in output.splitlines():
        if line.startswith("[") and "Group job" in line:
            group = line.split("Group job ")[1].split()[0]
            inside[group] = 0
            grouped += 1
        elif re.match(r"^(local)?rule \S+:$", line):
            group = None
            if not line.startswith("localrule") and line != "rule all:":  # all: no job
                ungrouped += 1
                grouped += 1
        elif group is not None and re.match(r"^    rule \S+:$", line):
            inside[group] += 1
            ungrouped += 1
    return ungrouped, grouped, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    args = parser.parse_args()
    print("config\tsbatch_without_groups\tsbatch_with_groups\tjobs_per_group")
    for config in args.configs:
        with tempfile.TemporaryDirectory() as workdir:
            ungrouped, grouped, inside = count(plan(config.resolve(), Path(workdir)))
        groups = ", ".join(f"{name}: {n}" for name, n in inside.items())
        print(f"{config}\t{ungrouped}\t{grouped}\t{groups}")


if __name__ == "__main__":
    main()

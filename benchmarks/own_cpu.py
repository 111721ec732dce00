"""Snakemake's own CPU time during a run, beside its jobs' CPU time and the run's wall time.

Runs the given command (a `snakemake` call), samples its process every 0.2 s with psutil, and
prints the last sample: user + system CPU of the Snakemake process itself (scheduling, DAG
updates, file checks) and of its finished children (the jobs), and the wall time. The share
`own / children` is what the issue's target (< 5%) is about.

    .venv/bin/python benchmarks/own_cpu.py -- .venv/bin/snakemake --cores 2
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def main() -> None:
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if not command:
        raise SystemExit(__doc__)
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    watched = psutil.Process(proc.pid)
    last = watched.cpu_times()
    while proc.poll() is None:
        try:
            last = watched.cpu_times()
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    wall = time.perf_counter() - start
    own = last.user + last.system
    jobs = last.children_user + last.children_system
    print("| wall s | Snakemake's own CPU s | its jobs' CPU s | own / jobs | exit |")
    print("|---|---|---|---|---|")
    share = f"{own / jobs:.1%}" if jobs else "-"
    print(f"| {wall:.1f} | {own:.1f} | {jobs:.1f} | {share} | {proc.returncode} |")


if __name__ == "__main__":
    main()

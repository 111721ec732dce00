"""Workflow stages: run time, peak memory and CPU time per rule, from Snakemake's ``benchmark:``
files, and the end-to-end wall time of a run from its Snakemake log.

Every TSV under the benchmarks folder (``results/benchmarks/{rule}/{wildcards...}.tsv``: the
first path component is the rule) is one job; a file with several rows (``repeat()``) counts
as one job with the mean of its rows (the largest ``max_rss``). Jobs are grouped by rule, or by
the first ``--depth`` path components (2: rule and dataset, or rule and build), into jobs,
total and largest seconds, largest ``max_rss`` (MB) and total ``cpu_time`` (s); ``cpu_per_s``
is CPU seconds per wall second (about the threads a rule keeps busy). ``--dataset`` keeps
paths containing a substring (``luna16_db1``; builds are under ``{rule}/{build}/...``).

``--log`` reads a ``.snakemake/log/*.snakemake.log`` file (``latest``: the newest one that ran
jobs): start (its ``Date:`` header, else the first ``[Thu Nov 26 12:24:46 2026]`` line), end
(the last such line), wall time, Snakemake's own ``Elapsed time`` and the steps done;
``--within-log`` then keeps only the benchmark files written during that run. Benchmark files
of jobs that were not rerun keep their old figures, so without it the table mixes runs.

    .venv/bin/python benchmarks/stage_times.py --dataset luna16_db1 --log latest --within-log
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

#: Columns of a Snakemake benchmark file that are numbers (``h:m:s`` repeats ``s``).
NUMERIC = ("s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "cpu_time")
DATE = re.compile(r"^\s*Date: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d \d{4})\]\s*$")
STEPS = re.compile(r"^(\d+) of (\d+) steps \((\d+)%\) done")
ELAPSED = re.compile(r"^Elapsed time: (.+)$")
#: Slack, in seconds, when matching benchmark files' times to a run's start and end.
SLACK_S = 5


def read_benchmarks(root: Path, dataset: str | None = None) -> pd.DataFrame:
    """One row per benchmark file: path (relative to ``root``, without ``.tsv``; its first
    component is the rule), written (mtime), seconds, max_rss (MB) and cpu_time (s)."""
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root)
        if dataset and dataset not in rel.as_posix():
            continue
        table = pd.read_csv(path, sep="\t")
        numbers = table.reindex(columns=list(NUMERIC)).apply(pd.to_numeric, errors="coerce")
        if numbers.empty:
            continue
        rows.append(
            {
                "path": rel.with_suffix("").as_posix(),
                "written": datetime.fromtimestamp(path.stat().st_mtime),
                "s": numbers["s"].mean(),
                "max_rss": numbers["max_rss"].max(),
                "cpu_time": numbers["cpu_time"].mean(),
            }
        )
    return pd.DataFrame(rows, columns=["path", "written", "s", "max_rss", "cpu_time"])


def hms(seconds: float) -> str:
    """``h:mm:ss`` of a number of seconds."""
    return str(timedelta(seconds=round(seconds)))


def summarise(jobs: pd.DataFrame, depth: int = 1) -> pd.DataFrame:
    """Per stage (the first ``depth`` path components): jobs, total and largest seconds,
    largest max_rss, total cpu_time; the slowest stage first, then a total row."""
    stage = jobs["path"].map(lambda p: "/".join(p.split("/")[:depth]))
    table = (
        jobs.assign(stage=stage)
        .groupby("stage")
        .agg(
            jobs=("s", "size"),
            total_s=("s", "sum"),
            max_s=("s", "max"),
            max_rss_mb=("max_rss", "max"),
            cpu_time_s=("cpu_time", "sum"),
        )
        .sort_values("total_s", ascending=False)
        .reset_index()
    )
    total = {
        "stage": "total",
        "jobs": table["jobs"].sum(),
        "total_s": table["total_s"].sum(),
        "max_s": table["max_s"].max(),
        "max_rss_mb": table["max_rss_mb"].max(),
        "cpu_time_s": table["cpu_time_s"].sum(),
    }
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table.insert(3, "total_hms", table["total_s"].map(hms))
    table["cpu_per_s"] = table["cpu_time_s"] / table["total_s"]
    return table.round({"total_s": 1, "max_s": 1, "max_rss_mb": 0, "cpu_time_s": 1, "cpu_per_s": 2})


def latest_log(folder: Path) -> Path:
    """The newest Snakemake log in ``folder`` that ran jobs (dry runs and lints have no
    timestamp lines)."""
    for path in sorted(folder.glob("*.snakemake.log"), reverse=True):
        if any(STAMP.match(line) for line in path.read_text(errors="replace").splitlines()):
            return path
    raise SystemExit(f"no Snakemake log with jobs in {folder}")


def read_log(path: Path) -> dict:
    """Start, end, wall seconds, Snakemake's elapsed time, steps done and status of a run."""
    start = end = None
    elapsed, steps, failed = "", "", False
    for line in path.read_text(errors="replace").splitlines():
        if (match := DATE.match(line)) and start is None:
            start = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S")
        elif match := STAMP.match(line):
            end = datetime.strptime(match[1], "%a %b %d %H:%M:%S %Y")
            start = start or end
        elif match := STEPS.match(line):
            steps = f"{match[1]} of {match[2]}"
        elif match := ELAPSED.match(line):
            elapsed = match[1]
        elif line.startswith(("Error in rule", "Exiting because a job execution failed")):
            failed = True
    if start is None or end is None:
        raise SystemExit(f"{path}: no timestamps; not the log of a run that executed jobs")
    done = steps.split(" of ")
    status = "failed" if failed else "complete" if steps and done[0] == done[1] else "incomplete"
    return {
        "log": path.name,
        "start": start,
        "end": end,
        "wall_s": (end - start).total_seconds(),
        "wall_hms": hms((end - start).total_seconds()),
        "snakemake_elapsed": elapsed,
        "steps_done": steps,
        "status": status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", type=Path, default=Path("results/benchmarks"))
    parser.add_argument("--dataset", help="keep benchmark paths containing this substring")
    parser.add_argument("--depth", type=int, default=1, help="path components per stage")
    parser.add_argument("--log", help="a .snakemake/log/*.snakemake.log file, or latest")
    parser.add_argument(
        "--within-log", action="store_true", help="only benchmark files written during --log"
    )
    args = parser.parse_args()
    if args.within_log and not args.log:
        parser.error("--within-log needs --log")
    if not args.benchmarks.is_dir():
        raise SystemExit(f"{args.benchmarks}: no such folder")
    run = None
    if args.log:
        path = latest_log(Path(".snakemake/log")) if args.log == "latest" else Path(args.log)
        run = read_log(path)
    jobs = read_benchmarks(args.benchmarks, args.dataset)
    if run and args.within_log:
        low = run["start"] - timedelta(seconds=SLACK_S)
        high = run["end"] + timedelta(seconds=SLACK_S)
        jobs = jobs[(jobs["written"] >= low) & (jobs["written"] <= high)]
    if jobs.empty:
        raise SystemExit("no benchmark files matched")
    print(summarise(jobs, args.depth).to_markdown(index=False))
    if run:
        print()
        print(pd.DataFrame([run]).to_markdown(index=False))
        if args.within_log:
            busy = jobs["s"].sum() / run["wall_s"] if run["wall_s"] else float("nan")
            print(
                f"\njobs' seconds / wall seconds: {busy:.2f} (above 1: jobs ran in parallel; "
                "below: Snakemake's own time and rules without a benchmark file)"
            )


if __name__ == "__main__":
    main()

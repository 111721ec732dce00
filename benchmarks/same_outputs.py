"""Do two commits give the same outputs? Runs the test config and the quick demo at each and
compares the files.

    python benchmarks/same_outputs.py BASE [HEAD] [--config C ...] [--renamed OLD=NEW ...]

HEAD is the working tree when omitted; ``--config`` defaults to config/test.yaml and
config/config.yaml (the quick demo); ``--renamed`` maps a path fragment at BASE to its name at
HEAD, for an output a refactor renamed (its bytes are still compared).

Each side is a copy of the tree (``git worktree`` for a commit, the tracked and untracked files
for the working tree) run with ``snakemake --cores 2`` and its own ``src`` first on
``PYTHONPATH``, so a refactor can be checked against the commit before it. Every TSV, CSV, TXT
and JSON under ``results/`` (the metrics, the submissions, every per-run table; not the
benchmark timings) is compared byte for byte. Prints the counts and the files that differ;
exits 1 when any does. Takes ~5 minutes per config on 2 cores.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SUFFIXES = {".tsv", ".csv", ".txt", ".json"}


def checkout(rev: str | None, where: Path) -> Path:
    """A copy of the tree at ``rev`` (None: the working tree) under ``where``."""
    if rev is not None:
        subprocess.run(
            ["git", "-C", REPO, "worktree", "add", "-q", "--detach", where, rev], check=True
        )
        return where
    files = subprocess.run(
        ["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source, target = REPO / os.fsdecode(name), where / os.fsdecode(name)
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return where


def run(tree: Path, config: str) -> dict[str, Path]:
    """Run ``config`` in ``tree``; its output tables by path under results/."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    command = [SNAKEMAKE, "--cores", "2", "--quiet", "all", "--configfile", config]
    subprocess.run(command, cwd=tree, env=env, check=True)
    results = tree / "results"
    return {
        str(path.relative_to(results)): path
        for path in results.rglob("*")
        if path.suffix in SUFFIXES and "benchmarks" not in path.relative_to(results).parts
    }


def compare(base: str, head: str | None, config: str, renamed: dict[str, str]) -> bool:
    """Run ``config`` at both sides; print what differs; True when nothing does."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            before = run(checkout(base, Path(tmp) / "base"), config)
            after = run(checkout(head, Path(tmp) / "head"), config)
            for old, new in renamed.items():
                before = {name.replace(old, new): path for name, path in before.items()}
            differ = sorted(
                name
                for name in before.keys() & after.keys()
                if not filecmp.cmp(before[name], after[name], shallow=False)
            )
            only = sorted(before.keys() ^ after.keys())
        finally:  # the commits' worktrees go with the temporary folder (compared before)
            for side in ("base", "head"):
                remove = ["git", "-C", REPO, "worktree", "remove", "--force", Path(tmp) / side]
                subprocess.run(remove, check=False, capture_output=True)
    submissions = sum("submissions" in name for name in before)
    print(
        f"{config}: {len(before)} files at {base}, {len(after)} at {head or 'the working tree'} "
        f"({submissions} submissions); {len(differ)} differ, {len(only)} on one side only"
    )
    for name in differ:
        print(f"  differs: {name}")
    for name in only:
        print(f"  one side only: {name}")
    return not (differ or only)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("head", nargs="?")
    parser.add_argument("--config", action="append", help="default: test and quick demo")
    parser.add_argument("--renamed", action="append", default=[], metavar="OLD=NEW")
    args = parser.parse_args()
    renamed = dict(pair.split("=", 1) for pair in args.renamed)
    configs = args.config or ["config/test.yaml", "config/config.yaml"]
    same = [compare(args.base, args.head, config, renamed) for config in configs]
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())

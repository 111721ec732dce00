"""Write docs/RESULTS.md from finished runs, or check that it still states what they wrote.

    python benchmarks/results_page.py CONFIG...          (re)write the sections of CONFIGs
    python benchmarks/results_page.py --check CONFIG...  exit 1 when a section is stale

Each CONFIG must have been run first (``snakemake --cores N --configfile CONFIG``; its outputs
under ``results/``). Other configs' sections are kept as they are. ``--available`` skips the
configs whose outputs are missing (``make results``: every config/*.yaml that was run). CI runs
the quick demo and then ``--check config/config.yaml`` (``make check-results``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from medimprint.report.results_page import config_section, stale_sections, updated_page

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "RESULTS.md"


def commit() -> str:
    """The short commit of the tree, marked dirty when it has changes."""
    head = subprocess.run(
        ["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="config files whose outputs are in results/")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument(
        "--available", action="store_true", help="skip the configs whose outputs are missing"
    )
    args = parser.parse_args()
    fresh = {}
    for config in args.configs:
        spec = yaml.safe_load((REPO / config).read_text())
        try:
            fresh[config] = config_section(config, spec, args.results, commit(), root=REPO)
        except FileNotFoundError as err:
            if not args.available:
                raise SystemExit(str(err)) from None
            print(f"skipped: {err}")
    page = PAGE.read_text() if PAGE.exists() else ""
    if args.check:
        stale = stale_sections(page, fresh)
        for config, lines in stale.items():
            print(
                f"docs/RESULTS.md is stale for {config}: regenerate it with "
                f"`python benchmarks/results_page.py {config}` after a fresh run",
                file=sys.stderr,
            )
            print("\n".join(lines[:80]), file=sys.stderr)
        if not stale:
            print(f"docs/RESULTS.md states what the runs wrote: {', '.join(fresh)}")
        return 1 if stale else 0
    PAGE.write_text(updated_page(page, fresh))
    print(f"wrote {PAGE.relative_to(REPO)}: {', '.join(fresh)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

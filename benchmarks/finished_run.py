"""What the scripts that read a finished workflow run share: the command line (``--config``, the
config that was run, and ``--results``, its outputs), the datasets of one kind it lists, and the
membership runs' per-image scores."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

#: The columns of a membership run's per-image table (the workflow's ``{run}.tsv``).
RUN_COLUMNS = ("id", "split", "label", "score", "used")
#: The answer's per-image table, under ``membership/``, and its name among `membership_runs`.
ANSWER, ANSWER_RUN = "selected_scores.tsv", "answer"


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of ``doc``, with ``--config`` and
    ``--results``; a script adds its own options."""
    out = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    out.add_argument("--config", required=True, help="the workflow config that was run")
    out.add_argument("--results", default="results", help="the run's results folder")
    return out


def datasets(args: argparse.Namespace, kind: str) -> list[tuple[str, Path]]:
    """``(name, root)`` of each dataset of ``kind`` (membership, attribution, subsets) in the
    config ``args.config``, in its order."""
    config = yaml.safe_load(Path(args.config).read_text())
    return [(name, Path(spec["root"])) for name, spec in config["datasets"].items() if kind in spec]


def membership_runs(folder: Path, split: str) -> dict[str, pd.Series]:
    """``{run: its scores of the split's images, by id}`` of every run table (`RUN_COLUMNS`)
    under a dataset's ``membership/`` folder, the answer first, as `ANSWER_RUN`."""
    out: dict[str, pd.Series] = {}
    for path in [folder / ANSWER, *sorted(folder.rglob("*.tsv"))]:
        table = pd.read_csv(path, sep="\t", dtype={"id": str})
        if not set(RUN_COLUMNS) <= set(table.columns):
            continue
        run = ANSWER_RUN if path.name == ANSWER else path.relative_to(folder).with_suffix("")
        out.setdefault(str(run), table[table["split"] == split].set_index("id")["score"])
    return out

"""docs/RESULTS.md: the measured tables, written from a finished run's outputs, never by hand.

Each config that was run gets one section between markers (``<!-- results: config/x.yaml -->``
... ``<!-- /results -->``), so regenerating one config keeps the others. A section holds, per
dataset, the answer (`membership/selected.tsv`, `attribution/selected.tsv`,
`subsets/selected.tsv`) and the tables the
HTML report shows (`report.tables`), from the same code: the page and the report cannot
disagree. Its first line names where it came from (config, its digest, the commit that wrote the
page, the date of the outputs); `stale_sections` compares everything else, so CI can rerun the
quick demo and fail when a documented figure is no longer what the workflow writes.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from medimprint.data.validation import KINDS
from medimprint.evaluation import read_metrics
from medimprint.report.tables import (
    ATTRIBUTION_SELECTED_COLUMNS,
    SUBSETS_SELECTED_COLUMNS,
    attacks_table,
    attribution_table,
    best_region_table,
    read_answers,
    robustness_table,
    selected_notes,
    selected_table,
    subsets_table,
)

#: The first line of every section: where its figures came from (left out of comparisons).
SOURCE = "Source:"
SECTION = re.compile(r"<!-- results: (?P<config>\S+) -->\n(?P<body>.*?)<!-- /results -->\n", re.S)
HEADER = """# Results

Measured tables of medimprint's runs, each written by `benchmarks/results_page.py` from the
outputs of one `snakemake --configfile ...` run (`make results` after the runs), never by hand;
CI reruns the quick demo and fails when its section differs from what the workflow writes.
Intervals are 95% bootstrap intervals (membership: over whole groups of slices). Every choice
was made on the labelled training split; test labels were read only to write these figures.

"""


def markdown_table(frame: pd.DataFrame, index_title: str = "") -> str:
    """``frame`` as a GitHub pipe table, the index as the first column (multi-level column
    names joined by ': ')."""

    def text(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    columns = [
        ": ".join(str(c) for c in col if str(c)) if isinstance(col, tuple) else str(col)
        for col in frame.columns
    ]
    names = frame.index.names
    first = index_title or " / ".join(str(n) for n in names if n) or ""
    lines = [
        "| " + " | ".join(text(c) for c in [first, *columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for index, row in frame.iterrows():
        label = " / ".join(map(str, index)) if isinstance(index, tuple) else str(index)
        lines.append("| " + " | ".join(text(v) for v in [label, *row.tolist()]) + " |")
    return "\n".join(lines) + "\n"


def _transposed(table: pd.DataFrame, field: str) -> str:
    """A one-row-per-dataset table turned to one row per field: readable at any width."""
    out = table.T
    out.index.name = field
    return markdown_table(out)


def dataset_section(name: str, kind: str, folder: Path, metrics: pd.DataFrame) -> list[str]:
    """The Markdown blocks of one dataset (``kind``: membership, attribution or subsets) from
    its results ``folder``."""
    rows = metrics[metrics["dataset"] == name]
    parts = [f"### {name} ({kind})\n"]
    if kind == "membership":
        selected = read_answers([folder / "membership" / "selected.tsv"])
        parts.append("The answer, chosen without test labels (`membership/selected.tsv`):\n")
        parts.append(_transposed(selected_table(selected), "field"))
        parts.extend(f"_{note}_\n" for note in selected_notes(selected))
        runs = attacks_table(rows)
        if not runs.empty:
            runs.columns = [metric for _, metric in runs.columns]
            parts.append("Every reconstruction, attack and control run:\n")
            parts.append(markdown_table(runs))
        best = best_region_table(rows, "regions")
        if not best.empty:
            parts.append("The region run (method A) the training split prefers:\n")
            parts.append(_transposed(best, "field"))
    elif kind == "subsets":
        selected = read_answers([folder / "subsets" / "selected.tsv"])
        parts.append("The answer, chosen by out-of-fold accuracy (`subsets/selected.tsv`):\n")
        parts.append(_transposed(selected_table(selected, SUBSETS_SELECTED_COLUMNS), "field"))
        parts.append("Every run, accuracy:\n")
        parts.append(markdown_table(subsets_table(rows)))
        confusion = pd.read_csv(folder / "subsets" / "selected_confusion.tsv", sep="\t")
        if not confusion.empty:
            parts.append("The answer's confusion matrix (true subset per row):\n")
            parts.append(markdown_table(confusion.set_index("true")))
    else:
        selected = read_answers([folder / "attribution" / "selected.tsv"])
        parts.append("The answer with k unknown (`attribution/selected.tsv`):\n")
        table = selected_table(selected, ATTRIBUTION_SELECTED_COLUMNS)
        parts.append(_transposed(table, "field"))
        parts.append("The attribution grid, ARI:\n")
        parts.append(markdown_table(attribution_table(rows, name)))
        robust = robustness_table(rows, name)
        if not robust.empty:
            parts.append("Test ARI after perturbing the test images:\n")
            parts.append(markdown_table(robust))
    return parts


def config_section(
    config_path: str, config: Mapping, results: Path, commit: str = "", *, root: Path = Path()
) -> str:
    """One config's section (without its markers) from the outputs under ``results``;
    ``config_path`` is relative to ``root``."""
    datasets = {
        name: next(kind for kind in KINDS if kind in spec)
        for name, spec in config["datasets"].items()
    }
    answers = [results / name / kind / "selected.tsv" for name, kind in datasets.items()]
    missing = [str(path) for path in answers if not path.exists()]
    if missing:
        raise FileNotFoundError(
            f"no outputs of {config_path} (first missing: {missing[0]}); run "
            f"`snakemake --cores N --configfile {config_path}` first"
        )
    digest = hashlib.sha256((root / config_path).read_bytes()).hexdigest()[:12]
    written = max(path.stat().st_mtime for path in answers)
    date = datetime.datetime.fromtimestamp(written, datetime.UTC).strftime("%Y-%m-%d")
    metrics = read_metrics([results / name / "metrics.tsv" for name in datasets])
    parts = [
        f"## `{config_path}`\n",
        f"{SOURCE} `{config_path}` (sha256 {digest}), outputs of {date}, page written at "
        f"commit {commit or 'unknown'}.\n",
    ]
    for name, kind in datasets.items():
        parts.extend(dataset_section(name, kind, results / name, metrics))
    return "\n".join(parts)


def sections(page: str) -> dict[str, str]:
    """{config path: section body} of a results page."""
    return {m["config"]: m["body"] for m in SECTION.finditer(page)}


def updated_page(page: str, new: Mapping[str, str]) -> str:
    """The page with the sections of ``new`` replaced (or appended, in the order given), the
    others kept as they were."""
    kept = sections(page)
    kept.update(new)
    blocks = [
        f"<!-- results: {config} -->\n{body}<!-- /results -->\n" for config, body in kept.items()
    ]
    return HEADER + "\n".join(blocks)


def _figures(body: str) -> list[str]:
    return [line for line in body.splitlines() if not line.startswith(SOURCE)]


def stale_sections(page: str, new: Mapping[str, str]) -> dict[str, list[str]]:
    """{config: the page's lines that differ from a fresh section} for every section of ``new``
    the page lacks or states differently (the source line aside)."""
    import difflib

    documented = sections(page)
    out = {}
    for config, body in new.items():
        if config not in documented:
            out[config] = [f"no section for {config} in the page"]
            continue
        diff = difflib.unified_diff(
            _figures(documented[config]), _figures(body), "documented", "fresh", lineterm="", n=0
        )
        lines = list(diff)
        if lines:
            out[config] = lines
    return out

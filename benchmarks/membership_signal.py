"""Where does a membership AUC come from on slices cut in blocks? Each run against not-used
slices next to a used block and farther away.

    python benchmarks/membership_signal.py --config config/task_shape.yaml [--split train]

Run after a workflow run, on membership datasets of builds that cut each patient's stack into
blocks of neighbouring slices (the ``groups.csv`` a build writes, ``<patient>_b<block>``, read
only here). A slice's gap is the number of blocks between its own and the nearest block of the
same patient whose slices the generator learned (0 for a used slice; with a test generator,
the used slices of the image's own split). Per run (the answer and every run's
table under ``membership/``) it prints the AUC of used slices against every not-used one,
against those of an adjacent block (gap 1: a few slices from a training slice, near duplicates),
and against those farther away. A generator that leaks its training slices separates used from
adjacent; one that only learned which part of the body it was shown separates used from far,
and an AUC over all not-used slices mixes the two in the proportions of the split.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from finished_run import datasets, membership_runs, parser
from membership_answer import true_groups

from medimprint.data.manifest import read_manifest
from medimprint.data.views import has_test_generator
from medimprint.membership.metrics import auc

BLOCK = re.compile(r"^(?P<patient>.+)_b(?P<block>\d+)$")


def block_gaps(blocks: pd.Series, used: pd.Series) -> pd.Series | None:
    """Each image's gap (in blocks) to the nearest used block of its patient, or None when the
    groups are not blocks (e.g. whole patients)."""
    parsed = blocks.str.extract(BLOCK)
    if parsed.isna().any().any():
        return None
    number = parsed["block"].astype(int)
    used_blocks = parsed[used].assign(block=number[used]).groupby("patient")["block"].apply(set)
    gaps = [
        min((abs(b - u) for u in used_blocks.get(p, ())), default=np.inf)
        for p, b in zip(parsed["patient"], number, strict=True)
    ]
    return pd.Series(gaps, index=blocks.index)


def dataset_table(results: Path, dataset: str, root: Path, split: str) -> pd.DataFrame | None:
    """One row per run: AUC against all, adjacent and farther not-used slices."""
    truth = true_groups(results, dataset, root)
    if truth is None:
        return None
    manifest = read_manifest(results / dataset / "manifest.tsv")
    real = manifest[(manifest["role"] == "real") & (manifest["label"] != "")].set_index("id")
    used = real["label"] == "1"
    if has_test_generator(manifest):  # each split's generator learned that split's used slices
        real = real[real["split"] == split]
        used = used.loc[real.index]
    gaps = block_gaps(truth["block"].loc[real.index], used)
    if gaps is None:
        return None
    part = real[real["split"] == split]
    labels = (part["label"] == "1").to_numpy()
    gap = gaps.loc[part.index].to_numpy()
    subsets = {"all": ~labels, "adjacent (gap 1)": gap == 1, "farther (gap >= 2)": gap >= 2}
    rows = []
    for run, scores in membership_runs(results / dataset / "membership", split).items():
        if not part.index.isin(scores.index).all():
            continue
        s = scores.loc[part.index].to_numpy(dtype=float)
        row = {"run": run}
        for name, negatives in subsets.items():
            keep = labels | (negatives & ~labels)
            row[name] = (
                auc(labels[keep].astype(int), s[keep]) if (negatives & ~labels).any() else np.nan
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    counts = {name: int((neg & ~labels).sum()) for name, neg in subsets.items()}
    table.attrs["size"] = f"{int(labels.sum())} used; not used: " + ", ".join(
        f"{n} {name.split(' ')[0]}" for name, n in counts.items()
    )
    return table


def main() -> int:
    command = parser(__doc__)
    command.add_argument("--split", default="test", choices=("train", "test"))
    args = command.parse_args()
    for dataset, root in datasets(args, "membership"):
        table = dataset_table(Path(args.results), dataset, root, args.split)
        if table is None:
            print(f"### {dataset}: no blocks of slices (groups are patients); skipped\n")
            continue
        print(f"### {dataset}, {args.split} split ({table.attrs['size']})\n")
        print(table.to_markdown(index=False, floatfmt=".3f") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Which rule for choosing the attribution answer transfers? Each rule against the test ARI.

    python benchmarks/attribution_choice.py results/*/attribution/selected_candidates.tsv

Reads the candidates tables the workflow's ``attribution_selected`` rule writes (every clean run
with k estimated, its held-out-generator ARI and agreement, and with test labels its test ARI)
and prints, per dataset, the test ARI and k of the run each rule picks; none of the rules reads
a test label:

- held-out ARI: the best held-out-generator ARI, first in the grid's order on ties (the rule the
  report used before, best training ARI, is this one for runs whose reducer is not learned);
- agreement: the partition agreeing most with the others (the grid's medoid);
- both: agreement among the runs within the tolerance of the best held-out ARI (the workflow's
  rule before the next one);
- named, then both (the workflow's rule): both, among the runs whose test clusters are named
  after the most labelled generators (tables written before the column ``named`` skip it);

beside the grid's lowest, median and highest test ARI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from medimprint.attribution.selection import choose


def rules(candidates: pd.DataFrame) -> dict[str, str]:
    """{rule: the run it picks}."""
    held_out = candidates.sort_values("heldout_ari", ascending=False, kind="stable")
    agreed = candidates.sort_values("agreement", ascending=False, kind="stable")
    picks = {
        "held-out ARI": held_out["run"].iloc[0],
        "agreement": agreed["run"].iloc[0],
        "both": choose(candidates.assign(named=0)).run,
    }
    if "named" in candidates:
        picks["named, then both"] = choose(candidates).run
    return picks


def main(paths: list[str]) -> None:
    print("| dataset | rule | run | k | test ARI |")
    print("|---|---|---|---|---|")
    for path in paths:
        table = pd.read_csv(path, sep="\t")
        dataset = Path(path).parents[1].name
        by_run = table.set_index("run")
        for rule, run in rules(table.drop(columns=["shortlisted"], errors="ignore")).items():
            row = by_run.loc[run]
            print(f"| {dataset} | {rule} | {run} | {row['k_test']} | {row['ari_test']:.3f} |")
        ari = table["ari_test"]
        print(
            f"| {dataset} | grid ({len(table)} runs) | lowest / median / highest | | "
            f"{ari.min():.3f} / {ari.median():.3f} / {ari.max():.3f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])

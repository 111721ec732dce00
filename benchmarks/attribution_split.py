"""When the attribution answer cuts one generator in two, could any rule have joined the parts?

    python benchmarks/attribution_split.py --config config/attribution_fresh.yaml

Run after a workflow run, on attribution datasets with test labels (read here, for evaluation
only). For each pair of the answer's test clusters (as its run cut them, before merging) it
prints the true generator behind each (its majority), the names the answer gave, and three
label-free measures of how far apart the pair lies, each a candidate merge rule:

- ``separation``: `attribution.selection.separation`, the merge rule's own measure (each
  cluster's median nearest-neighbour distance to the other over the other's own spacing; the
  workflow merges at or below `MAX_RATIO`), in the run's feature set standardised on the
  training split;
- ``spread``: the median distance between the two clusters' images over the largest median
  distance between two images of one labelled generator (how far apart the parts lie in units
  of a seen generator's size, blind to a mode-collapsed part's tiny spacing);
- ``together``: `attribution.selection.co_association` over every candidate of the grid and
  over the shortlisted ones (the share of image pairs, one from each cluster, that a run puts in
  one cluster, averaged over the runs); the workflow merges a pair with a new cluster when the
  shortlisted runs' value exceeds that of every two generators known to differ
  (`grid_joined`).

A rule can join the parts of one generator only where their measure lies on the joining side of
every pair of different generators; the last lines say, per measure, whether it does.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from finished_run import datasets, parser
from sklearn.metrics import pairwise_distances
from sklearn.preprocessing import StandardScaler

from medimprint.attribution.selection import MAX_RATIO, co_association, separation
from medimprint.data.manifest import read_manifest
from medimprint.data.views import generated_rows
from medimprint.features.stores import load_feature_set
from medimprint.io import row_positions
from medimprint.names import parse_attribution_run_id

#: Measures where a smaller value means closer (the others: a larger one).
DISTANCES = ("separation", "spread")
MEASURES = (*DISTANCES, "together", "together_shortlisted")


def run_partition(folder: Path, run: str, ids: pd.Index) -> np.ndarray:
    """A grid run's test clusters, in the order of ``ids``."""
    feature_set, reducer, method, k, view = parse_attribution_run_id(run)
    table = pd.read_csv(folder / feature_set / view / f"{reducer}_{method}_k-{k}.tsv", sep="\t")
    return table[table["split"] == "test"].set_index("id").loc[ids, "cluster"].to_numpy()


def pair_table(results: Path, dataset: str) -> pd.DataFrame:
    """One row per pair of the answer's test clusters (each of at least 2 images)."""
    folder = results / dataset / "attribution"
    manifest = read_manifest(results / dataset / "manifest.tsv")
    answer = pd.read_csv(folder / "selected.tsv", sep="\t").iloc[0]
    candidates = pd.read_csv(folder / "selected_candidates.tsv", sep="\t")
    names = pd.read_csv(folder / "selected_names.tsv", sep="\t").set_index("id")
    train, test = generated_rows(manifest, "train"), generated_rows(manifest, "test")
    stores = [
        results / dataset / "features" / "full" / f"{b}.h5"
        for b in answer["feature_set"].split("+")
    ]
    ids, features = load_feature_set(stores)
    x_train, x_test = (features[row_positions(ids, list(part["id"]))[0]] for part in (train, test))
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    labels = train["label"].to_numpy()
    size = max(
        np.median(pairwise_distances(x_train[labels == g])[np.triu_indices((labels == g).sum(), 1)])
        for g in np.unique(labels)
    )
    order = pd.Index(test["id"])
    clusters = names.loc[order, "run_cluster"].to_numpy()
    truth = test["label"].to_numpy()
    grids = {
        "together": np.stack([run_partition(folder, r, order) for r in candidates["run"]]),
        "together_shortlisted": np.stack(
            [
                run_partition(folder, r, order)
                for r in candidates.loc[candidates["shortlisted"], "run"]
            ]
        ),
    }
    rows = []
    sizable = [c for c in np.unique(clusters) if (clusters == c).sum() >= 2]
    for a, b in combinations(sizable, 2):
        in_a, in_b = clusters == a, clusters == b
        generator = {c: pd.Series(truth[m]).mode()[0] for c, m in ((a, in_a), (b, in_b))}
        row = {
            "clusters": f"{a} ({in_a.sum()}) / {b} ({in_b.sum()})",
            "true generators": f"{generator[a]} / {generator[b]}",
            "named": f"{names.loc[order[in_a], 'generator'].iloc[0]} / "
            f"{names.loc[order[in_b], 'generator'].iloc[0]}",
            "same": generator[a] == generator[b],
            "separation": separation(x_test[in_a], x_test[in_b]),
            "spread": float(np.median(pairwise_distances(x_test[in_a], x_test[in_b]))) / size,
        }
        for key, grid in grids.items():
            row[key] = co_association(grid, in_a, in_b)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["run"] = answer["run"]
    return table


def verdicts(table: pd.DataFrame) -> list[str]:
    """Per measure: does every same-generator pair lie on the joining side of every pair of
    different generators?"""
    same, apart = table[table["same"]], table[~table["same"]]
    if same.empty or apart.empty:
        return ["no generator cut in two" if same.empty else "one generator in every cluster"]
    out = []
    for measure in MEASURES:
        if measure in DISTANCES:
            worst, best_other = same[measure].max(), apart[measure].min()
            joinable = worst < best_other
        else:
            worst, best_other = same[measure].min(), apart[measure].max()
            joinable = worst > best_other
        verdict = (
            "a threshold joins the parts alone" if joinable else "no threshold joins them alone"
        )
        out.append(f"{measure}: parts {worst:.2f}, nearest other pair {best_other:.2f}: {verdict}")
    return out


def main() -> int:
    args = parser(__doc__).parse_args()
    for dataset, _root in datasets(args, "attribution"):
        table = pair_table(Path(args.results), dataset)
        print(f"### {dataset}: {table.attrs['run']} (merged at separation <= {MAX_RATIO:g})\n")
        print(table.to_markdown(index=False, floatfmt=".2f"))
        print("\n" + "\n".join(f"- {line}" for line in verdicts(table)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

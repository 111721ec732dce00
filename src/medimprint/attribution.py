"""Sub-task 2: cluster synthetic images by the generator that made them, and evaluate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medimprint.clustering import cluster, reduce_features
from medimprint.errors import InputError
from medimprint.metrics import CLUSTER_METRICS, bootstrap_interval


@dataclass(frozen=True)
class AttributionSetup:
    """One run of the grid: how features are reduced and clustered."""

    reducer: str = "none"
    method: str = "kmeans"
    linkage: str = "ward"
    seed: int = 0


def _split_rows(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    return manifest[(manifest["role"] == "generated") & (manifest["split"] == split)]


def cluster_split(
    rows: pd.DataFrame, features: pd.DataFrame, k: int, setup: AttributionSetup
) -> pd.DataFrame:
    """Cluster the images in ``rows`` (features indexed by id) into ``k`` groups."""
    x = reduce_features(features.loc[rows["id"]].to_numpy(), setup.reducer, seed=setup.seed)
    labels = cluster(x, k, setup.method, linkage=setup.linkage, seed=setup.seed)
    return pd.DataFrame(
        {"id": rows["id"].to_numpy(), "split": rows["split"].to_numpy(), "cluster": labels}
    )


def run_attribution(
    manifest: pd.DataFrame,
    ids: list[str],
    features: np.ndarray,
    *,
    test_generators: int,
    setup: AttributionSetup,
    n_boot: int = 1000,
) -> tuple[pd.DataFrame, dict[str, tuple[float, float, float]]]:
    """Cluster the labelled train split (k = its number of generators) and the test split.

    Returns per-image assignments (id, split, cluster) and metrics ``{name: (value, low,
    high)}``: ARI, NMI and purity on the train split, and on the test split when every test
    image has a label. Test labels are read only here, after clustering, for evaluation.
    """
    table = pd.DataFrame(features, index=pd.Index(ids, name="id"))
    train = _split_rows(manifest, "train")
    test = _split_rows(manifest, "test")
    if train.empty or test.empty:
        raise InputError("attribution needs labelled train images and test images; check config")
    k_train = train["label"].nunique()
    parts = [
        cluster_split(train, table, k_train, setup),
        cluster_split(test, table, test_generators, setup),
    ]
    assignments = pd.concat(parts, ignore_index=True)
    metrics: dict[str, tuple[float, float, float]] = {
        "k_train": (float(k_train), np.nan, np.nan),
        "k_test": (float(test_generators), np.nan, np.nan),
    }
    for split, rows, part in (("train", train, parts[0]), ("test", test, parts[1])):
        truth = rows["label"].to_numpy()
        if (truth == "").any():
            continue
        for name, fn in CLUSTER_METRICS.items():
            metrics[f"{name}_{split}"] = bootstrap_interval(
                fn, truth, part["cluster"].to_numpy(), n_boot=n_boot, seed=setup.seed
            )
    return assignments, metrics


def submission(assignments: pd.DataFrame) -> pd.DataFrame:
    """The task's submission rows for the test split: ``<image_id>,<cluster>``, sorted by id."""
    test = assignments[assignments["split"] == "test"]
    return test[["id", "cluster"]].sort_values("id").reset_index(drop=True)

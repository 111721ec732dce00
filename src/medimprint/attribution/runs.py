"""Sub-task 2: cluster synthetic images by the generator that made them, and evaluate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medimprint.attribution.k_estimation import DEFAULT_CRITERION, estimate_k
from medimprint.attribution.metric_learning import GeneratorMetric
from medimprint.clustering import cluster, reduce_features
from medimprint.data.manifest import file_name
from medimprint.data.views import generated_rows
from medimprint.errors import InputError
from medimprint.evaluation import CLUSTER_METRICS, bootstrap_interval
from medimprint.names import (
    CLEAN,
    K_MODES,
    METRIC_KINDS,
    REDUCERS,
    attribution_run_id,
    parse_attribution_run_id,
)

Metrics = dict[str, tuple[float, float, float]]


@dataclass(frozen=True)
class AttributionSetup:
    """One run of the grid: how features are reduced, how k is chosen, how they are clustered."""

    reducer: str = "none"
    method: str = "kmeans"
    linkage: str = "ward"
    k: str = "given"
    k_criterion: str = DEFAULT_CRITERION
    k_max: int = 10
    seed: int = 0

    @property
    def supervised(self) -> bool:
        """Whether the reducer is learned from the training generators' labels."""
        return self.reducer in METRIC_KINDS


def parse_run_id(run: str, **options: object) -> tuple[str, AttributionSetup, str]:
    """``(feature_set, setup, view)`` of a `run_id`; ``options`` fill the other setup fields
    (linkage, k_criterion, k_max, seed)."""
    feature_set, reducer, method, k, view = parse_attribution_run_id(run)
    return feature_set, AttributionSetup(reducer=reducer, method=method, k=k, **options), view


def robustness_images(manifest: pd.DataFrame) -> pd.DataFrame:
    """The images a robustness run perturbs: the test split (training stays as made)."""
    return generated_rows(manifest, "test")


def run_id(feature_set: str, setup: AttributionSetup, view: str = CLEAN) -> str:
    """A run's name in metrics.tsv (`names.attribution_run_id`)."""
    return attribution_run_id(feature_set, setup.reducer, setup.method, setup.k, view)


def reduce_splits(
    train: np.ndarray, test: np.ndarray, labels: np.ndarray, setup: AttributionSetup
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the setup's reducer to each split (a learned metric is fit on train only)."""
    if setup.supervised:
        metric = GeneratorMetric(setup.reducer, seed=setup.seed).fit(train, labels)
        return metric.transform(train), metric.transform(test)
    if setup.reducer not in REDUCERS:
        raise InputError(f"unknown reducer {setup.reducer!r}; use one of {list(REDUCERS)}")
    return (
        reduce_features(train, setup.reducer, seed=setup.seed),
        reduce_features(test, setup.reducer, seed=setup.seed),
    )


def choose_k(x: np.ndarray, expected: int, setup: AttributionSetup) -> int:
    """``expected`` when k is given; otherwise estimated from the features alone."""
    if setup.k == "given":
        return expected
    if setup.k != "estimated":
        raise InputError(f"unknown k mode {setup.k!r}; use one of {list(K_MODES)}")
    k_max = min(setup.k_max, len(x) - 1)
    k, _ = estimate_k(
        x,
        k_max=k_max,
        criterion=setup.k_criterion,
        method=setup.method,
        linkage=setup.linkage,
        seed=setup.seed,
    )
    return k


def _score(truth: np.ndarray, clusters: np.ndarray, split: str, n_boot: int, seed: int) -> Metrics:
    return {
        f"{name}_{split}": bootstrap_interval(fn, truth, clusters, n_boot=n_boot, seed=seed)
        for name, fn in CLUSTER_METRICS.items()
    }


def run_attribution(
    manifest: pd.DataFrame,
    ids: list[str],
    features: np.ndarray,
    *,
    test_generators: int,
    setup: AttributionSetup,
    n_boot: int = 1000,
) -> tuple[pd.DataFrame, Metrics]:
    """Cluster the labelled train split and the test split of an attribution dataset.

    k is the number of labelled generators (train) and ``test_generators`` (test), or estimated
    from the features when ``setup.k == "estimated"``. Returns per-image assignments (id, split,
    cluster) and metrics ``{name: (value, low, high)}``: ARI, NMI and purity per split with
    bootstrap intervals, the k used and expected, and the feature dimension after reduction.
    Train-split scores are left out when the reducer was learned on those very labels. Test
    labels are read only here, after clustering, for evaluation.
    """
    table = pd.DataFrame(features, index=pd.Index(ids, name="id"))
    train, test = generated_rows(manifest, "train"), generated_rows(manifest, "test")
    if train.empty or test.empty:
        raise InputError("attribution needs labelled train images and test images; check config")
    train_labels = train["label"].to_numpy()
    x_train, x_test = reduce_splits(
        table.loc[train["id"]].to_numpy(), table.loc[test["id"]].to_numpy(), train_labels, setup
    )
    nan = float("nan")
    metrics: Metrics = {}
    parts = []
    for split, rows, x, expected in (
        ("train", train, x_train, len(set(train_labels))),
        ("test", test, x_test, test_generators),
    ):
        k = choose_k(x, expected, setup)
        clusters = cluster(x, k, setup.method, linkage=setup.linkage, seed=setup.seed)
        parts.append(
            pd.DataFrame({"id": rows["id"].to_numpy(), "split": split, "cluster": clusters})
        )
        metrics[f"k_{split}"] = (float(k), nan, nan)
        metrics[f"k_{split}_expected"] = (float(expected), nan, nan)
        metrics[f"dim_{split}"] = (float(x.shape[1]), nan, nan)
        truth = rows["label"].to_numpy()
        if (truth != "").all() and not (split == "train" and setup.supervised):
            metrics.update(_score(truth, clusters, split, n_boot, setup.seed))
    return pd.concat(parts, ignore_index=True), metrics


def submission(assignments: pd.DataFrame) -> pd.DataFrame:
    """The task's submission rows for the test split: ``<file name>,<cluster>``, sorted by
    name (`data.manifest.file_name`: the user's name even where role folders repeat it)."""
    test = assignments.loc[assignments["split"] == "test", ["id", "cluster"]]
    test = test.assign(id=test["id"].map(file_name))
    return test.sort_values("id").reset_index(drop=True)

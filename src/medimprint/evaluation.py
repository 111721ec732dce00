"""Evaluation metrics with bootstrap confidence intervals, and the metrics table format."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

#: Columns of every metrics table (`results/{dataset}/metrics.tsv`).
METRIC_COLUMNS = ["dataset", "subtask", "run", "metric", "value", "ci_low", "ci_high"]

Metric = Callable[[np.ndarray, np.ndarray], float]


def purity(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Cluster purity: fraction of images in their cluster's majority class."""
    table = contingency_matrix(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())


#: Clustering metrics by name: (true labels, predicted clusters) -> score.
CLUSTER_METRICS: dict[str, Metric] = {
    "ari": lambda t, p: float(adjusted_rand_score(t, p)),
    "nmi": lambda t, p: float(normalized_mutual_info_score(t, p)),
    "purity": purity,
}


def bootstrap_interval(
    metric: Metric,
    labels_true: np.ndarray,
    labels_pred: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Metric value and its percentile bootstrap interval over resampled images.

    The images are resampled with replacement; predictions are kept fixed (the interval
    reflects the finite evaluation set, not the variability of the method). With ``groups``
    (one key per image: patient, series or block of neighbouring slices) whole groups are
    resampled (cluster bootstrap): correlated images then count as the one observation they
    nearly are, where an image bootstrap gives intervals far too narrow.
    """
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    value = metric(labels_true, labels_pred)
    if n_boot <= 0:
        return value, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    scores = np.array(
        [
            metric(labels_true[idx], labels_pred[idx])
            for idx in resample_indices(len(labels_true), n_boot, rng, groups)
        ]
    )
    tail = (1.0 - level) / 2.0 * 100.0
    with warnings.catch_warnings():  # all-NaN resamples (one class only) leave a NaN bound
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(scores, [tail, 100.0 - tail])
    return value, float(low), float(high)


def resample_indices(
    n: int, n_boot: int, rng: np.random.Generator, groups: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``n`` rows: rows drawn with replacement, or with ``groups``,
    whole groups drawn with replacement (each resample as many groups as there are)."""
    if groups is None:
        yield from rng.integers(0, n, (n_boot, n))
        return
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} group keys for {n} rows")
    _, codes = np.unique(groups, return_inverse=True)
    order = np.argsort(codes, kind="stable")  # rows of each group, in row order
    members = np.split(order, np.cumsum(np.bincount(codes))[:-1]) if n else []
    for drawn in rng.integers(0, len(members), (n_boot, len(members))):
        yield np.concatenate([members[g] for g in drawn])


def metric_rows(
    dataset: str, subtask: str, run: str, values: dict[str, tuple[float, float, float]]
) -> pd.DataFrame:
    """Rows of the metrics table for one run: ``{metric: (value, ci_low, ci_high)}``."""
    rows = [
        (dataset, subtask, run, name, value, low, high)
        for name, (value, low, high) in values.items()
    ]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def run_metrics(table: pd.DataFrame, run: str) -> dict[str, tuple[float, float, float]]:
    """One run's ``{metric: (value, ci_low, ci_high)}`` from a metrics table: the inverse of
    `metric_rows`."""
    rows = table[table["run"] == run]
    return {
        row.metric: (row.value, row.ci_low, row.ci_high) for row in rows.itertuples(index=False)
    }


def read_metrics(paths: list[str]) -> pd.DataFrame:
    """Concatenate metrics tables, in a stable order."""
    frames = [pd.read_csv(p, sep="\t", dtype={"dataset": str, "run": str}) for p in paths]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=METRIC_COLUMNS)
    return table.sort_values(["dataset", "subtask", "run", "metric"], kind="stable").reset_index(
        drop=True
    )

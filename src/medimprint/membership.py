"""Membership decisions from per-image scores, shared by every membership method.

A method gives each real image a score (higher: more likely used to train the generator). The
decision threshold is the one that maximises F1 on the labelled training split; the honest
training-split estimate of a setting is the F1 of *cross-validated* decisions (each fold
thresholded on the other folds). Test labels are read only by `evaluate`, after every choice.
Besides the task's F1 we report AUC and TPR at low FPR, as the membership-inference literature
does (Carlini et al. 2022).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from medimprint.errors import InputError
from medimprint.io import write_table
from medimprint.metrics import Metric, bootstrap_interval

Metrics = dict[str, tuple[float, float, float]]

#: Folds of the training-split cross-validation (fewer when a class has fewer images).
FOLDS = 5


def training_labels(manifest: pd.DataFrame) -> pd.DataFrame:
    """The labelled real training images (``id``, ``label`` as 0/1 ints), checked to hold both
    classes."""
    rows = manifest[(manifest["role"] == "real") & (manifest["split"] == "train")]
    labels = rows["label"].astype(int)
    if labels.nunique() < 2:
        raise InputError(
            "membership needs both used and not-used real training images (real_used and "
            f"real_not_used), got {len(rows)} images of {labels.nunique()} class(es); add the "
            "missing class to the dataset"
        )
    return pd.DataFrame({"id": rows["id"].to_numpy(), "label": labels.to_numpy()})


def real_test_ids(manifest: pd.DataFrame) -> list[str]:
    """Ids of the real test images (status unknown to the method)."""
    return manifest.loc[(manifest["role"] == "real") & (manifest["split"] == "test"), "id"].tolist()


def real_test_labels(manifest: pd.DataFrame) -> pd.Series | None:
    """Test labels (0/1 by id) when the dataset has them, for evaluation only."""
    rows = manifest[(manifest["role"] == "real") & (manifest["split"] == "test")]
    if rows.empty or (rows["label"] == "").any():
        return None
    return pd.Series(rows["label"].astype(int).to_numpy(), index=rows["id"].to_numpy())


@dataclass
class FeatureSplits:
    """A membership dataset's features by role: generated images, labelled real training images
    (``train``: id, label) and real test images (``test`` ids), rows in those orders."""

    generated: np.ndarray
    train: pd.DataFrame
    train_x: np.ndarray
    test: list[str]
    test_x: np.ndarray


def feature_splits(
    manifest: pd.DataFrame, ids: list[str], features: np.ndarray, *, standardise: bool = True
) -> FeatureSplits:
    """Rows of ``features`` (named by ``ids``) for the generated, labelled training and test
    images, in float64; with ``standardise``, z-scored by the generated images' statistics
    (which need no label)."""
    table = pd.DataFrame(np.asarray(features, dtype=np.float64), index=pd.Index(ids))
    generated = manifest.loc[manifest["role"] == "generated", "id"].tolist()
    if len(generated) < 2:
        raise InputError(f"membership needs at least 2 generated images, got {len(generated)}")
    train, test = training_labels(manifest), real_test_ids(manifest)
    parts = [table.loc[rows].to_numpy() for rows in (generated, train["id"], test)]
    if standardise:
        scaler = StandardScaler().fit(parts[0])
        parts = [scaler.transform(x) for x in parts]
    return FeatureSplits(parts[0], train, parts[1], test, parts[2])


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold ``t`` maximising the F1 of ``score >= t`` on labelled images: halfway
    between the lowest score called used and the next lower one (the highest such ``t`` on
    ties)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    order = np.argsort(-scores, kind="stable")
    ranked, truth = scores[order], labels[order]
    true_pos = np.cumsum(truth)
    cut = np.r_[ranked[1:] != ranked[:-1], True]  # last image of each group of equal scores
    f1 = 2 * true_pos / (np.arange(1, len(ranked) + 1) + truth.sum())
    best = int(np.flatnonzero(cut)[np.argmax(f1[cut])])
    if best + 1 == len(ranked):
        return -np.inf
    return float((ranked[best] + ranked[best + 1]) / 2)


def cross_validated_decisions(
    scores: np.ndarray, labels: np.ndarray, *, folds: int = FOLDS, seed: int = 0
) -> np.ndarray:
    """Used (1) / not used (0) for each labelled image, thresholded on the other folds."""
    labels = np.asarray(labels, dtype=int)
    counts = np.bincount(labels, minlength=2)
    n_splits = min(folds, int(counts.min()))
    if n_splits < 2:
        raise InputError(
            "threshold cross-validation needs at least 2 used and 2 not-used training images, "
            f"got {counts[1]} used and {counts[0]} not used; add real training images "
            "(real_used / real_not_used) to the smaller class"
        )
    decisions = np.zeros(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for fit, held_out in splitter.split(scores.reshape(-1, 1), labels):
        threshold = best_threshold(scores[fit], labels[fit])
        decisions[held_out] = scores[held_out] >= threshold
    return decisions


def f1(labels: np.ndarray, decisions: np.ndarray) -> float:
    """F1 of the used class (0 when nothing is called used)."""
    true_pos = float(np.sum((labels == 1) & (decisions == 1)))
    called, actual = float(np.sum(decisions == 1)), float(np.sum(labels == 1))
    return 2 * true_pos / (called + actual) if called + actual else 0.0


def _precision(labels: np.ndarray, decisions: np.ndarray) -> float:
    called = np.sum(decisions == 1)
    return float(np.sum((labels == 1) & (decisions == 1)) / called) if called else 0.0


def _recall(labels: np.ndarray, decisions: np.ndarray) -> float:
    actual = np.sum(labels == 1)
    return float(np.sum((labels == 1) & (decisions == 1)) / actual) if actual else float("nan")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of the scores (NaN when only one class is present)."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_max: float) -> float:
    """Highest true-positive rate of a threshold whose false-positive rate is at most
    ``fpr_max``."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= fpr_max].max())


#: Metrics of hard decisions, and of scores, by name.
DECISION_METRICS: dict[str, Metric] = {
    "f1": f1,
    "precision": _precision,
    "recall": _recall,
    "accuracy": lambda t, d: float(np.mean(t == d)),
}
SCORE_METRICS: dict[str, Metric] = {
    "auc": auc,
    "tpr_at_1pct_fpr": lambda t, s: tpr_at_fpr(t, s, 0.01),
    "tpr_at_10pct_fpr": lambda t, s: tpr_at_fpr(t, s, 0.10),
}


def evaluate(
    labels: np.ndarray,
    decisions: np.ndarray,
    scores: np.ndarray,
    split: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> Metrics:
    """``{metric_split: (value, low, high)}`` with percentile bootstrap intervals."""
    labels = np.asarray(labels, dtype=int)
    out: Metrics = {}
    for metrics, values in ((DECISION_METRICS, decisions), (SCORE_METRICS, scores)):
        for name, fn in metrics.items():
            out[f"{name}_{split}"] = bootstrap_interval(
                fn, labels, np.asarray(values), n_boot=n_boot, seed=seed
            )
    return out


@dataclass
class ScoredRun:
    """A membership run's outcome: per-image table, metrics and the decision threshold."""

    #: id, split, label ("" when unknown), score, used (training images: cross-validated)
    scores: pd.DataFrame
    metrics: Metrics
    threshold: float


def decide(
    train: pd.DataFrame,
    train_scores: np.ndarray,
    test_ids: list[str],
    test_scores: np.ndarray,
    truth: pd.Series | None,
    *,
    threshold: float | None = None,
    folds: int = FOLDS,
    seed: int = 0,
    n_boot: int = 1000,
) -> ScoredRun:
    """Decide used / not used from scores and evaluate.

    Without ``threshold`` it is tuned on the training split (`best_threshold`) and training
    decisions are cross-validated; a given ``threshold`` is a method's own fixed rule, applied
    to both splits. Test labels (``truth``, by id) are read only after every decision.
    """
    labels = train["label"].to_numpy()
    if threshold is None:
        threshold = best_threshold(train_scores, labels)
        train_decisions = cross_validated_decisions(train_scores, labels, folds=folds, seed=seed)
    else:
        train_decisions = (train_scores >= threshold).astype(int)
    decisions = (test_scores >= threshold).astype(int)
    metrics = evaluate(labels, train_decisions, train_scores, "train", n_boot=n_boot, seed=seed)
    metrics["threshold"] = (float(threshold), float("nan"), float("nan"))
    test_label = [""] * len(test_ids)
    if truth is not None:
        test_truth = truth.loc[test_ids].to_numpy()
        metrics.update(
            evaluate(test_truth, decisions, test_scores, "test", n_boot=n_boot, seed=seed)
        )
        test_label = [str(v) for v in test_truth]
    scores = pd.DataFrame(
        {
            "id": [*train["id"], *test_ids],
            "split": ["train"] * len(train) + ["test"] * len(test_ids),
            "label": [str(v) for v in labels] + test_label,
            "score": np.r_[train_scores, test_scores],
            "used": np.r_[train_decisions, decisions].astype(int),
        }
    )
    return ScoredRun(scores=scores, metrics=metrics, threshold=float(threshold))


def submission(ids: list[str], decisions: np.ndarray) -> pd.DataFrame:
    """The task's submission rows, ``<image_id>,<0|1>`` (write without a header), sorted by id;
    every test image exactly once."""
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate image ids in a membership submission")
    rows = pd.DataFrame({"id": ids, "used": np.asarray(decisions, dtype=int)})
    return rows.sort_values("id").reset_index(drop=True)


def write_run(
    scores: pd.DataFrame, scores_path: str | os.PathLike, submission_path: str | os.PathLike
) -> None:
    """Write a run's per-image table and the task's submission of its test rows (no header)."""
    write_table(scores_path, scores)
    tested = scores[scores["split"] == "test"]
    write_table(submission_path, submission(tested["id"].tolist(), tested["used"]), header=False)


def select_run(metrics: pd.DataFrame, dataset: str, family: str) -> str:
    """The run of a method family (run ids ``family/...``) with the best cross-validated F1 on
    the labelled training split, ties to the higher training AUC, then metrics order. Test
    labels are never read."""
    rows = metrics[
        (metrics["dataset"] == dataset)
        & (metrics["subtask"] == "membership")
        & metrics["run"].str.startswith(f"{family}/")
    ]
    train = rows[rows["metric"].isin(["f1_train", "auc_train"])].pivot_table(
        index="run", columns="metric", values="value", sort=False
    )
    if train.empty:
        raise InputError(f"no {family} membership runs of dataset {dataset!r} in the metrics")
    order = train.reindex(columns=["f1_train", "auc_train"]).fillna(-np.inf)
    best = order.sort_values(["f1_train", "auc_train"], ascending=False, kind="stable")
    return str(best.index[0])


def selection_row(metrics: pd.DataFrame, dataset: str, run: str) -> pd.DataFrame:
    """One chosen run's values as one wide row: ``dataset, run`` then every metric it has."""
    rows = metrics[(metrics["dataset"] == dataset) & (metrics["run"] == run)]
    values = dict(zip(rows["metric"], rows["value"], strict=True))
    return pd.DataFrame([{"dataset": dataset, "run": run, **values}])

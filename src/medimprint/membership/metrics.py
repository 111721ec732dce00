"""Membership metrics of scores and decisions, with grouped bootstrap intervals.

AUC ranks settings (threshold free); the task's F1 and, from its 2025 edition, Cohen's kappa
judge decisions, beside the F1 of calling every image used (`f1_all_used`), which any F1 must
beat; TPR at low FPR is what the membership-inference literature reports (Carlini et al. 2022).
`column_aucs` scores thousands of candidates at once; `evaluate` gives every metric of a run
with intervals that resample whole groups (patients, blocks of slices).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

from medimprint.evaluation import Metric, bootstrap_interval

Metrics = dict[str, tuple[float, float, float]]


def column_aucs(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of every column of an images x candidates score matrix (Mann-Whitney, ties
    counted half), NaN when a class is missing; vectorised so that thousands of candidates
    are ranked in milliseconds."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    n_pos, n_neg = int(labels.sum()), int((labels == 0).sum())
    if not n_pos or not n_neg:
        return np.full(scores.shape[1], np.nan)
    ranks = rankdata(scores, axis=0)
    return (ranks[labels == 1].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def percentile_scores(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each score's fraction of ``reference`` scores below it (ties count half), in [0, 1]:
    puts scores of different runs on one scale (rank ensembles, pooled nested folds) and keeps
    each query's value independent of the other queries."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    scores = np.asarray(scores, dtype=np.float64)
    below = np.searchsorted(ref, scores, side="left")
    at_or_below = np.searchsorted(ref, scores, side="right")
    return (below + at_or_below) / (2 * len(ref))


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


def kappa(labels: np.ndarray, decisions: np.ndarray) -> float:
    """Cohen's kappa of the decisions (the task's 2025 measure): agreement beyond what the
    decisions' own used rate would reach by chance, so calling every image used scores 0, not
    F1's 0.667 at 50 / 50. 0 where chance agreement is already perfect (both constant)."""
    labels, decisions = np.asarray(labels, dtype=int), np.asarray(decisions, dtype=int)
    observed = float(np.mean(labels == decisions))
    p_label, p_decision = float(np.mean(labels)), float(np.mean(decisions))
    expected = p_label * p_decision + (1 - p_label) * (1 - p_decision)
    return 0.0 if expected >= 1 else (observed - expected) / (1 - expected)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of the scores (NaN when only one class is present): `column_aucs`, as
    scikit-learn's ``roc_auc_score`` computes it but some 50 times faster, which the
    bootstrap intervals draw on a thousand times."""
    return float(column_aucs(labels, scores)[0])


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_max: float) -> float:
    """Highest true-positive rate of a threshold whose false-positive rate is at most
    ``fpr_max``; NaN unless there are at least ``1 / fpr_max`` not-used images (with fewer,
    the figure is the TPR at zero false positives, not at ``fpr_max``)."""
    labels = np.asarray(labels)
    needed = math.ceil(1 / fpr_max - 1e-9) if fpr_max > 0 else 1
    if len(np.unique(labels)) < 2 or np.sum(labels == 0) < needed:
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= fpr_max].max())


#: Metrics of hard decisions, and of scores, by name.
DECISION_METRICS: dict[str, Metric] = {
    "f1": f1,
    "kappa": kappa,
    "precision": _precision,
    "recall": _recall,
    "accuracy": lambda t, d: float(np.mean(t == d)),
    # the F1 of calling every image used: what an F1 must beat to mean anything
    "f1_all_used": lambda t, d: f1(t, np.ones_like(t)),
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
    groups: np.ndarray | None = None,
) -> Metrics:
    """``{metric_split: (value, low, high)}`` with percentile bootstrap intervals, over whole
    groups when ``groups`` are given (cluster bootstrap)."""
    labels = np.asarray(labels, dtype=int)
    out: Metrics = {}
    for metrics, values in ((DECISION_METRICS, decisions), (SCORE_METRICS, scores)):
        for name, fn in metrics.items():
            out[f"{name}_{split}"] = bootstrap_interval(
                fn, labels, np.asarray(values), n_boot=n_boot, seed=seed, groups=groups
            )
    return out

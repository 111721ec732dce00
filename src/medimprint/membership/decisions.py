"""Membership decisions from per-image scores, shared by every membership method.

A method gives each real image a score (higher: more likely used to train the generator). The
threshold is tuned on the labelled training split and training decisions are cross-validated on
grouped folds (`membership.folds`); F1 rewards calling every image used (0.667 at 50 / 50), so
the F1 of that trivial answer (`f1_all_used`) is reported beside every F1. Test labels are read
only by `finish_run`, after every choice; intervals resample whole groups (patients, blocks).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medimprint.data.views import MembershipView
from medimprint.errors import InputError
from medimprint.membership.folds import (
    FOLDS,
    best_threshold,
    cross_validated_decisions,
    cv_auc,
    group_keys,
)
from medimprint.membership.metrics import DECISION_METRICS, Metrics, evaluate


@dataclass
class ScoredRun:
    """A membership run's outcome: per-image table, metrics and the decision threshold."""

    #: id, split, label ("" when unknown), score, used (training images: cross-validated)
    scores: pd.DataFrame
    metrics: Metrics
    threshold: float
    #: per-image scores of every setting the run could offer
    #: (`membership.selection.CANDIDATE_COLUMNS`)
    candidates: pd.DataFrame | None = None


def decide(
    view: MembershipView,
    train_scores: np.ndarray,
    test_scores: np.ndarray,
    *,
    threshold: float | None = None,
    folds: int = FOLDS,
    seed: int = 0,
    n_boot: int = 1000,
    transfer: bool | None = None,
) -> ScoredRun:
    """Decide used / not used from scores and evaluate.

    Without ``threshold`` it is tuned on the training split (`best_threshold`) and training
    decisions are cross-validated on folds that keep the view's groups whole (where a
    class is one group there are no such folds: training decision metrics are then NaN, and the
    per-image table holds in-sample decisions); a given
    ``threshold`` is a method's own fixed rule, applied to both splits. Intervals resample
    whole groups. With ``transfer`` (by default: the test split has its own generator) the
    threshold decides the test images by rank (`transferred_threshold`). Test labels
    (``view.truth``) are read only after every decision.
    """
    labels = view.train["label"].to_numpy()
    train_groups = group_keys(view.groups, view.train["id"])
    cross_validated = threshold is None
    if threshold is None:
        threshold = best_threshold(train_scores, labels)
        try:
            train_decisions = cross_validated_decisions(
                train_scores, labels, folds=folds, seed=seed, groups=train_groups
            )
        except InputError as err:  # a class in one group: in-sample decisions, not reported
            if np.bincount(labels.astype(int), minlength=2).min() < 2:
                raise  # too few images, not just too few groups: the data must change
            warnings.warn(f"no cross-validated training decisions: {err}", stacklevel=2)
            train_decisions, cross_validated = (train_scores >= threshold).astype(int), False
    else:
        train_decisions = (train_scores >= threshold).astype(int)
        cross_validated = True  # a fixed rule: training decisions are honest as they are
    metrics = evaluate(
        labels,
        train_decisions,
        train_scores,
        "train",
        n_boot=n_boot,
        seed=seed,
        groups=train_groups,
    )
    if not cross_validated:
        for name in DECISION_METRICS:
            metrics[f"{name}_train"] = (float("nan"),) * 3
    metrics["cv_auc_train"] = (
        float(cv_auc(train_scores, labels, folds=folds, seed=seed, groups=train_groups)[0]),
        float("nan"),
        float("nan"),
    )
    metrics["threshold"] = (float(threshold), float("nan"), float("nan"))
    return finish_run(
        view,
        train_scores,
        train_decisions,
        test_scores,
        threshold,
        metrics,
        n_boot=n_boot,
        seed=seed,
        transfer=transfer,
    )


def transferred_threshold(
    threshold: float, train_scores: np.ndarray, test_scores: np.ndarray
) -> float:
    """The threshold on the test scores that calls the same fraction of test images used as
    ``threshold`` calls of the training images: where the test split has its own generator,
    scores against it sit on another scale, and only the rank transfers."""
    called = float(np.mean(np.asarray(train_scores) >= threshold))
    test_scores = np.sort(np.asarray(test_scores, dtype=np.float64))
    if called <= 0 or not len(test_scores):
        return np.inf
    if called >= 1:
        return -np.inf
    return float(test_scores[len(test_scores) - max(1, round(called * len(test_scores)))])


def finish_run(
    view: MembershipView,
    train_scores: np.ndarray,
    train_decisions: np.ndarray,
    test_scores: np.ndarray,
    threshold: float,
    metrics: Metrics,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    transfer: bool | None = None,
    threshold_scores: np.ndarray | None = None,
) -> ScoredRun:
    """Decide the test images by ``threshold`` (with ``transfer``, by its rank among
    ``threshold_scores``, the training scores it was set on, ``train_scores`` by default:
    `transferred_threshold`; by default where the test split has its own generator), then (and
    only then) read their labels (``view.truth``) to add test metrics (grouped intervals) to
    ``metrics``; return the run with its per-image table (id, split, label, score, used)."""
    train, test_ids, truth = view.train, view.test, view.truth
    if view.test_generator if transfer is None else transfer:
        reference = train_scores if threshold_scores is None else threshold_scores
        threshold_test = transferred_threshold(threshold, reference, test_scores)
        metrics["threshold_test"] = (threshold_test, float("nan"), float("nan"))
    else:
        threshold_test = threshold
    decisions = (np.asarray(test_scores) >= threshold_test).astype(int)
    test_label = [""] * len(test_ids)
    if truth is not None and len(test_ids):
        test_truth = truth.loc[test_ids].to_numpy(dtype=int)
        metrics.update(
            evaluate(
                test_truth,
                decisions,
                test_scores,
                "test",
                n_boot=n_boot,
                seed=seed,
                groups=group_keys(view.groups, test_ids),
            )
        )
        test_label = [str(v) for v in test_truth]
    scores = pd.DataFrame(
        {
            "id": [*train["id"], *test_ids],
            "split": ["train"] * len(train) + ["test"] * len(test_ids),
            "label": [str(v) for v in train["label"]] + test_label,
            "score": np.r_[train_scores, test_scores],
            "used": np.r_[train_decisions, decisions].astype(int),
        }
    )
    return ScoredRun(scores=scores, metrics=metrics, threshold=float(threshold))

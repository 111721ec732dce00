"""Grouped folds and thresholds on the labelled training split, shared by every membership
method.

The decision threshold is the one that maximises F1 on the labelled images (`best_threshold`);
the honest training-split estimate of a setting is the F1 of *cross-validated* decisions (each
fold thresholded on the other folds), and settings are ranked by a threshold-free score, the
cross-validated AUC (`cv_auc`). CT slices come in near-duplicate neighbours and patients, so
every fold takes an optional ``groups`` (one key per image, `medimprint.data.groups`): folds keep
a group whole (stratified group k-fold); without groups each image is its own group.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from medimprint.errors import InputError
from medimprint.membership.metrics import column_aucs

#: Folds of the training-split cross-validation (fewer when a class has fewer images).
FOLDS = 5


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


def groups_per_class(labels: np.ndarray, keys: np.ndarray) -> list[int]:
    """How many distinct groups (``keys``) the not-used and the used images span."""
    return [len(np.unique(keys[labels == c])) for c in (0, 1)]


def grouped_folds(
    labels: np.ndarray, groups: np.ndarray | None = None, *, folds: int = FOLDS, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held-out) row indices of stratified folds that keep each group whole; as many
    folds as the rarer class has groups, at most ``folds``."""
    labels = np.asarray(labels, dtype=int)
    keys = np.arange(len(labels)) if groups is None else np.asarray(groups)
    counts = groups_per_class(labels, keys)
    n_splits = min(folds, *counts)
    if n_splits < 2:
        unit = "images" if groups is None else "groups (patients / blocks)"
        raise InputError(
            "cross-validation on the training split needs at least 2 used and 2 not-used "
            f"training {unit}, got {counts[1]} used and {counts[0]} not used; add real "
            "training images (real_used / real_not_used) to the smaller class"
        )
    x = np.zeros((len(labels), 1))
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        return list(splitter.split(x, labels))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(fit, held) for fit, held in splitter.split(x, labels, keys) if len(held)]


def cross_validated_decisions(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Used (1) / not used (0) for each labelled image, thresholded on the other folds."""
    labels = np.asarray(labels, dtype=int)
    decisions = np.zeros(len(labels), dtype=int)
    for fit, held_out in grouped_folds(labels, groups, folds=folds, seed=seed):
        threshold = best_threshold(scores[fit], labels[fit])
        decisions[held_out] = scores[held_out] >= threshold
    return decisions


def cv_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Mean held-out-fold AUC of each score column over grouped folds: the threshold-free
    score settings are ranked by. (Scores made without labels give the same expected value as
    the training AUC, but the fold spread a single lucky group cannot dominate.) NaN when a
    class of the training split is a single group: no fold could hold it out."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=np.float64)
    matrix = scores[:, None] if scores.ndim == 1 else scores
    try:
        splits = grouped_folds(labels, groups, folds=folds, seed=seed)
    except InputError:  # a class in one group: no grouped folds, no cross-validated figure
        return np.full(matrix.shape[1], np.nan)
    per_fold = [column_aucs(labels[held], matrix[held]) for _, held in splits]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(per_fold), axis=0)


def group_keys(groups: pd.Series | None, ids: list[str] | pd.Series) -> np.ndarray | None:
    """The group of each of ``ids`` (``groups``: group by id), or None without groups."""
    if groups is None:
        return None
    ids = list(ids)
    missing = [i for i in ids if i not in groups.index]
    if missing:
        raise InputError(
            f"no group for {len(missing)} real images (first: {missing[:3]}); list every real "
            "image in the dataset's membership.groups file, or delete groups.tsv so the "
            "workflow rebuilds it"
        )
    return groups.loc[ids].astype(str).to_numpy()


def exclusion_keys(groups: pd.Series | None, train: pd.DataFrame) -> np.ndarray:
    """What reference-based scores of the labelled images ``train`` (id, label) leave out: each
    image's group, or each image alone without groups, or where a class is a single group
    (leaving it out would empty the class; the training figures of such runs may then be
    flattered by neighbouring slices, and a warning says so)."""
    ids = train["id"].to_numpy()
    keys = group_keys(groups, train["id"])
    if keys is None:
        return ids
    if min(groups_per_class(train["label"].to_numpy(dtype=int), keys)) < 2:
        warnings.warn(
            "a class of the training split is a single group: labelled images are scored "
            "leaving out only themselves, so their training figures may be flattered by "
            "neighbouring slices; add labelled images of other patients / blocks",
            stacklevel=2,
        )
        return ids
    return keys

"""A rank-average ensemble of membership attacks, its members chosen on the labelled training split
by the cross-validated AUC on grouped folds (every subset up to `EXHAUSTIVE_MAX` attacks, greedy
above)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from medimprint.errors import InputError
from medimprint.membership.folds import FOLDS, cv_auc
from medimprint.membership.metrics import auc, percentile_scores

#: Attacks up to which `choose_ensemble` tries every non-empty subset (greedy above).
EXHAUSTIVE_MAX = 6


def rank_average(
    score_columns: dict[str, np.ndarray],
    reference_columns: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Mean over attacks of each row's rank in [0, 1]: the fraction of that attack's reference
    scores below the row's score (ties count half).

    The reference scores are the training images' (``reference_columns``; ``score_columns``
    themselves when omitted, i.e. when ranking the training images). Ranking test images against
    the training scores, not among themselves, keeps each test image's value independent of the
    other test images.
    """
    reference_columns = score_columns if reference_columns is None else reference_columns
    if not score_columns:
        raise InputError("rank_average needs at least one attack's scores")
    ranks = []
    for name, scores in score_columns.items():
        if name not in reference_columns:
            raise InputError(f"no reference (training) scores for attack {name!r}")
        ranks.append(percentile_scores(scores, reference_columns[name]))
    return np.mean(ranks, axis=0)


def _subset_row(
    members: tuple[str, ...],
    train_scores: dict[str, np.ndarray],
    labels: np.ndarray,
    folds: int,
    seed: int,
    groups: Sequence | None,
) -> dict:
    scores = rank_average({name: train_scores[name] for name in members})
    return {
        "members": "+".join(members),
        "size": len(members),
        "cv_auc_train": float(cv_auc(scores, labels, folds=folds, seed=seed, groups=groups)[0]),
        "auc_train": auc(labels, scores),
    }


def _best(table: pd.DataFrame) -> pd.Series:
    """Best cross-validated AUC, ties to the higher AUC, then fewer members, then table order."""
    ranked = table.assign(neg_size=-table["size"]).fillna(
        {"cv_auc_train": -np.inf, "auc_train": -np.inf}
    )
    ranked = ranked.sort_values(
        ["cv_auc_train", "auc_train", "neg_size"], ascending=False, kind="stable"
    )
    return ranked.iloc[0]


def choose_ensemble(
    train_scores: dict[str, np.ndarray],
    labels: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    groups: Sequence | None = None,
) -> tuple[list[str], pd.DataFrame]:
    """The attacks whose rank average (`rank_average`) has the best cross-validated AUC on
    grouped folds of the labelled training split (threshold-free: a subset is not chosen for
    calling every image used); ties to the higher training AUC, then fewer members. Every
    non-empty subset is tried up to `EXHAUSTIVE_MAX` attacks, else greedy forward selection.
    Reads training scores and labels only. Returns the chosen names and the table of every tried
    subset (members, size, cv_auc_train, auc_train)."""
    labels = np.asarray(labels, dtype=int)
    names = list(train_scores)
    if not names:
        raise InputError("choose_ensemble needs at least one attack's scores")
    for name in names:
        if "+" in name:
            raise InputError(f"attack name {name!r} must not contain '+'")
        if len(train_scores[name]) != len(labels):
            raise InputError(f"attack {name!r}: {len(train_scores[name])} scores for {len(labels)}")
    rows: list[dict] = []
    if len(names) <= EXHAUSTIVE_MAX:
        for size in range(1, len(names) + 1):
            for members in combinations(names, size):
                rows.append(_subset_row(members, train_scores, labels, folds, seed, groups))
        table = pd.DataFrame(rows)
        return _best(table)["members"].split("+"), table
    chosen: tuple[str, ...] = ()
    best = None
    while len(chosen) < len(names):
        step = [
            _subset_row((*chosen, name), train_scores, labels, folds, seed, groups)
            for name in names
            if name not in chosen
        ]
        rows.extend(step)
        candidate = _best(pd.DataFrame(step))
        if best is not None and (candidate["cv_auc_train"], candidate["auc_train"]) <= (
            best["cv_auc_train"],
            best["auc_train"],
        ):
            break
        best, chosen = candidate, tuple(candidate["members"].split("+"))
    return list(chosen), pd.DataFrame(rows)

"""The membership run a dataset recommends, chosen without test labels, and an honest estimate of
what that choice will score.

Every membership job writes the per-image scores of each *candidate* it can offer (a run at
each of its inner settings: ``regions/full/resnet50/kmeans/min@k=8``,
``attacks/monte_carlo/pixels@q=0.25``, ``attacks/gan_leaks/pixels``). The choice is the
candidate with the best cross-validated AUC on grouped folds of the labelled training split,
then the F1-maximising threshold for the task. Picking the best of a thousand settings on a few
dozen labelled images flatters the winner (on pure-noise scores, 12 + 12 images, the best of
108 settings showed a cross-validated F1 of 0.78), so the figure reported for the choice comes
from *nested* cross-validation: the whole choice is repeated on the fit part of each outer
grouped fold and scored on its held-out part (`nested_estimate`). Scores are computed once, so
the nested loop costs seconds.

Beside the choice stand two controls (`medimprint.membership.controls`) that are not attacks: a
dataset is called "leakage shown" only when the chosen run's grouped interval lies wholly above the
labelled-neighbour control's (`verdict`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medimprint.errors import InputError
from medimprint.evaluation import bootstrap_interval
from medimprint.membership.decisions import (
    FOLDS,
    Metrics,
    auc,
    best_threshold,
    column_aucs,
    cv_auc,
    f1,
    finish_run,
    group_keys,
    grouped_folds,
    percentile_scores,
)

#: Columns of a candidates table: per-image scores of every setting a run can offer.
CANDIDATE_COLUMNS = ("id", "split", "candidate", "score")
#: Separates a run id from its inner setting in a candidate name.
SETTING_SEP = "@"
#: Verdicts of `verdict`.
LEAKAGE_SHOWN, NOT_SHOWN = "leakage shown", "not shown"


def candidate_name(run: str, setting: str = "") -> str:
    """A candidate's name: the run id, with its inner setting (``k=8``) after `SETTING_SEP`."""
    return f"{run}{SETTING_SEP}{setting}" if setting else run


def candidate_table(
    candidate: str,
    train_ids: Sequence[str],
    train_scores: np.ndarray,
    test_ids: Sequence[str],
    test_scores: np.ndarray,
) -> pd.DataFrame:
    """One candidate's rows of a candidates table (`CANDIDATE_COLUMNS`)."""
    return pd.DataFrame(
        {
            "id": [*train_ids, *test_ids],
            "split": ["train"] * len(train_ids) + ["test"] * len(test_ids),
            "candidate": candidate,
            "score": np.r_[np.asarray(train_scores, float), np.asarray(test_scores, float)],
        }
    )


def score_matrix(candidates: pd.DataFrame, ids: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Images (``ids``, in order) x candidates matrix of scores, and the candidate names (in
    first-seen order). Every candidate must score every image."""
    names = list(dict.fromkeys(candidates["candidate"]))
    scores = candidates.assign(score=candidates["score"].astype(np.float64))
    if scores.duplicated(["id", "candidate"]).any():
        raise InputError("a candidate scores one image twice; rebuild the membership outputs")
    wide = scores.pivot(index="id", columns="candidate", values="score")
    missing = [i for i in ids if i not in wide.index]
    if missing:
        raise InputError(
            f"no candidate scores for {len(missing)} images (first: {missing[:3]}); delete the "
            "membership outputs of this dataset so the workflow rebuilds them"
        )
    matrix = wide.loc[list(ids), names].to_numpy(dtype=np.float64)
    if np.isnan(matrix).any():
        bad = [names[j] for j in np.flatnonzero(np.isnan(matrix).any(axis=0))]
        raise InputError(f"candidates without a score for some images: {bad[:3]}")
    return matrix, names


@dataclass(frozen=True)
class Choice:
    """A candidate chosen on labelled images, and its threshold for the task's F1."""

    candidate: str
    cv_auc: float
    threshold: float


def choose(
    matrix: np.ndarray,
    names: Sequence[str],
    labels: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> Choice:
    """The candidate (column) with the best cross-validated AUC on grouped folds, ties to the
    higher AUC on all labelled rows, then the earlier column; then its F1 threshold. With a
    single group in a class there are no grouped folds: the AUC on all rows ranks alone."""
    labels = np.asarray(labels, dtype=int)
    pooled = column_aucs(labels, matrix)
    ranking = cv_auc(matrix, labels, folds=folds, seed=seed, groups=groups)
    if np.isnan(ranking).all():  # a class in one group (a nested fit part of a small split)
        ranking = pooled
    order = np.lexsort((np.arange(len(names)), -np.nan_to_num(pooled, nan=-1.0),
                        -np.nan_to_num(ranking, nan=-1.0)))  # fmt: skip
    best = int(order[0])
    return Choice(names[best], float(ranking[best]), best_threshold(matrix[:, best], labels))


@dataclass
class NestedResult:
    """Held-out outcome of the whole choice, repeated in each outer grouped fold."""

    #: per labelled image: its held-out score (percentile among its fold's fit rows)
    scores: np.ndarray
    #: per labelled image: its held-out decision (the fold's chosen threshold)
    decisions: np.ndarray
    #: per outer fold: the candidate chosen on the fit part
    chosen: list[str]
    #: per outer fold: AUC of the held-out part
    fold_aucs: list[float]


def nested_estimate(
    matrix: np.ndarray,
    names: Sequence[str],
    labels: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> NestedResult:
    """Nested cross-validation of `choose`: in each outer grouped fold the choice (candidate
    and threshold) is made on the fit part alone, with inner grouped folds, and applied to the
    held-out part."""
    labels = np.asarray(labels, dtype=int)
    keys = None if groups is None else np.asarray(groups)
    held_scores = np.full(len(labels), np.nan)
    decisions = np.zeros(len(labels), dtype=int)
    chosen, fold_aucs = [], []
    for fit, held in grouped_folds(labels, keys, folds=folds, seed=seed):
        choice = choose(
            matrix[fit],
            names,
            labels[fit],
            None if keys is None else keys[fit],
            folds=folds,
            seed=seed + 1,
        )
        column = list(names).index(choice.candidate)
        held_scores[held] = percentile_scores(matrix[held, column], matrix[fit, column])
        decisions[held] = matrix[held, column] >= choice.threshold
        chosen.append(choice.candidate)
        fold_aucs.append(float(column_aucs(labels[held], matrix[held, column])[0]))
    return NestedResult(held_scores, decisions, chosen, fold_aucs)


@dataclass
class Selection:
    """A dataset's recommended run: the choice, its nested estimate and its per-image table."""

    choice: Choice
    nested: NestedResult | None
    metrics: Metrics
    #: id, split, label, score, used (labelled images: held-out decisions of the nested loop)
    scores: pd.DataFrame


def select(
    candidates: pd.DataFrame,
    train: pd.DataFrame,
    test_ids: list[str],
    truth: pd.Series | None,
    groups: pd.Series | None,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    n_boot: int = 1000,
) -> Selection:
    """Choose on the labelled training split (``train``: id, label) among ``candidates``
    (`CANDIDATE_COLUMNS`), estimate the choice by nested cross-validation, decide the test
    images, and only then read their labels (``truth``, by id) to evaluate."""
    labels = train["label"].to_numpy(dtype=int)
    train_groups = group_keys(groups, train["id"])
    train_matrix, names = score_matrix(
        candidates[candidates["split"] == "train"], train["id"].tolist()
    )
    choice = choose(train_matrix, names, labels, train_groups, folds=folds, seed=seed)
    column = names.index(choice.candidate)
    metrics: Metrics = {
        "cv_auc_train": (choice.cv_auc, np.nan, np.nan),
        "threshold": (choice.threshold, np.nan, np.nan),
        "candidates": (float(len(names)), np.nan, np.nan),
    }
    try:
        nested = nested_estimate(train_matrix, names, labels, train_groups, folds=folds, seed=seed)
    except InputError as err:  # too few groups to nest: say so rather than guess
        warnings.warn(f"no nested estimate: {err}", stacklevel=2)
        nested = None
    if nested is not None:
        for name, metric, values in (
            ("auc", auc, nested.scores),
            ("f1", f1, nested.decisions),
        ):
            metrics[f"{name}_nested"] = bootstrap_interval(
                metric, labels, values, n_boot=n_boot, seed=seed, groups=train_groups
            )
        metrics["f1_all_used_nested"] = (f1(labels, np.ones_like(labels)), np.nan, np.nan)
        metrics["nested_choices"] = (float(len(set(nested.chosen))), np.nan, np.nan)
    test_scores = np.empty(0)
    if test_ids:
        test_matrix, _ = score_matrix(candidates[candidates["split"] == "test"], test_ids)
        test_scores = test_matrix[:, column]
    in_sample = train_matrix[:, column] >= choice.threshold
    train_used = nested.decisions if nested is not None else in_sample
    run = finish_run(
        train,
        train_matrix[:, column],
        np.asarray(train_used, dtype=int),
        test_ids,
        test_scores,
        choice.threshold,
        truth,
        metrics,
        groups=groups,
        n_boot=n_boot,
        seed=seed,
    )
    return Selection(choice, nested, run.metrics, run.scores)


def verdict(chosen: tuple[float, float, float], control: tuple[float, float, float]) -> str:
    """`LEAKAGE_SHOWN` when the chosen run's AUC interval ``(value, low, high)`` lies wholly
    above the labelled-neighbour control's (grouped intervals), else `NOT_SHOWN`."""
    low, high = chosen[1], control[2]
    if np.isnan(low) or np.isnan(high):
        return NOT_SHOWN
    return LEAKAGE_SHOWN if low > high else NOT_SHOWN


def _triple(metrics: Metrics, key: str, prefix: str) -> dict[str, float]:
    value, low, high = metrics.get(key, (np.nan, np.nan, np.nan))
    return {prefix: value, f"{prefix}_low": low, f"{prefix}_high": high}


def summary(
    dataset: str,
    selection: Selection,
    controls: dict[str, Metrics],
    groups: pd.DataFrame,
) -> pd.DataFrame:
    """The dataset's one-row answer (``selected.tsv``): the chosen candidate, its nested
    estimate, its test figures when labels exist, both controls beside it, and the verdict.

    The verdict compares AUC intervals with the labelled-neighbour control's: on the test split
    when it is labelled, else the nested estimate against the control's training AUC (its
    labelled images scored without their group, so both are held-out figures)."""
    m = selection.metrics
    row: dict[str, object] = {
        "dataset": dataset,
        "run": selection.choice.candidate,
        "groups": str(groups["source"].iloc[0]) if len(groups) else "",
        "n_groups": int(groups["group"].nunique()),
        "test_with_labelled_group": shared_group_fraction(selection.scores, groups),
        "candidates": int(m["candidates"][0]),
        "cv_auc_train": m["cv_auc_train"][0],
        **_triple(m, "auc_nested", "auc_nested"),
        **_triple(m, "f1_nested", "f1_nested"),
        "f1_all_used_nested": m.get("f1_all_used_nested", (np.nan,))[0],
        "threshold": m["threshold"][0],
        **_triple(m, "auc_test", "auc_test"),
        **_triple(m, "f1_test", "f1_test"),
        "f1_all_used_test": m.get("f1_all_used_test", (np.nan,))[0],
        "tpr_at_1pct_fpr_test": m.get("tpr_at_1pct_fpr_test", (np.nan,))[0],
        "tpr_at_10pct_fpr_test": m.get("tpr_at_10pct_fpr_test", (np.nan,))[0],
    }
    for name, values in controls.items():
        row.update(_triple(values, "auc_test", f"{name}_auc_test"))
        row.update(_triple(values, "auc_train", f"{name}_auc_train"))
    control = controls.get("labelled_neighbour", {})
    if "auc_test" in m:
        evidence, chosen, against = "test", m["auc_test"], control.get("auc_test")
    else:
        evidence, chosen = "nested", m.get("auc_nested", (np.nan,) * 3)
        against = control.get("auc_train")
    row["evidence"] = evidence
    row["verdict"] = verdict(chosen, against if against is not None else (np.nan,) * 3)
    return pd.DataFrame([row])


def shared_group_fraction(scores: pd.DataFrame, groups: pd.DataFrame) -> float:
    """The fraction of test images whose group also holds labelled training images (an image
    split of correlated slices): their figures can come from recognising that neighbour, not
    from the generator. 0 for a group split; NaN without test images."""
    group = groups.set_index("id")["group"]
    train = set(group.reindex(scores.loc[scores["split"] == "train", "id"]).dropna())
    test = group.reindex(scores.loc[scores["split"] == "test", "id"]).dropna()
    return float(test.isin(train).mean()) if len(test) else float("nan")


def nested_folds(selection: Selection) -> pd.DataFrame:
    """Per outer fold of the nested estimate: the candidate chosen on its fit part and the AUC
    of its held-out part (how stable the choice is)."""
    if selection.nested is None:
        return pd.DataFrame(columns=["fold", "candidate", "auc_held_out"])
    return pd.DataFrame(
        {
            "fold": range(1, len(selection.nested.chosen) + 1),
            "candidate": selection.nested.chosen,
            "auc_held_out": selection.nested.fold_aucs,
        }
    )

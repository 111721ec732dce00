"""The membership run a dataset recommends, chosen without test labels, and an honest estimate of
what that choice will score.

Every membership job writes the per-image scores of each *candidate* it can offer (a run at
each of its inner settings: ``regions/full/resnet50/kmeans/min@k=8``,
``attacks/monte_carlo/pixels@q=0.25``, ``attacks/gan_leaks/pixels``), and the nearest-generated
baseline is one too. The answer is the baseline (label free, no parameter) unless the candidate
with the best cross-validated AUC on grouped folds of the labelled training split beats it by
more than the uncertainty (a paired grouped bootstrap, `beats`); then the F1-maximising
threshold for the task. Picking the best of a thousand settings on a few dozen labelled images
flatters the winner (on pure-noise scores, 12 + 12 images, the best of 108 settings showed a
cross-validated F1 of 0.78), so the figure reported for the choice comes from *nested*
cross-validation: the whole choice is repeated on the fit part of each outer grouped fold and
scored on its held-out part (`nested_estimate`).

Candidates whose scores consult labelled images (`names.uses_labels`) take part only when the
groups were given: under estimated groups a labelled image's reference may hold its own
neighbours, and the held-out fold's labels shape the scores the choice ranks. Below
`MIN_GROUPS_PER_CLASS` labelled groups in a class, or where the labelled-neighbour control is
not at chance under the groups (`controls.checked_groups`), no choice is made (the baseline
answers), and there is no nested figure and no verdict: the summary says why (`withheld`).

A dataset is called "leakage shown" only when the answer's grouped interval lies wholly above
0.5 and above the labelled-neighbour control's (`verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medimprint.data.views import MembershipView
from medimprint.errors import InputError
from medimprint.evaluation import bootstrap_interval, resample_indices
from medimprint.membership.decisions import finish_run
from medimprint.membership.folds import (
    FOLDS,
    best_threshold,
    cv_auc,
    group_keys,
    grouped_folds,
    groups_per_class,
)
from medimprint.membership.metrics import Metrics, auc, column_aucs, f1, kappa, percentile_scores
from medimprint.names import BASELINE_CONTROL, SETTING_SEP, control_run_id, uses_labels

#: Columns of a candidates table: per-image scores of every setting a run can offer.
CANDIDATE_COLUMNS = ("id", "split", "candidate", "score")
#: The answer unless another candidate beats it (`beats`).
BASELINE = control_run_id(BASELINE_CONTROL)
#: The fewest labelled groups (patients / blocks) each class must span for a choice among
#: candidates, a nested figure and a verdict: 5 outer folds, each choosing on 4 groups a class.
MIN_GROUPS_PER_CLASS = 5
#: Draws of the paired grouped bootstrap of `beats`, and the quantile of the AUC lead that must
#: be above 0 (one-sided 95%).
GUARD_DRAWS, GUARD_QUANTILE = 500, 0.05
#: Verdicts of `verdict`.
LEAKAGE_SHOWN, NOT_SHOWN, WITHHELD = "leakage shown", "not shown", "withheld"


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


def scores_candidate(candidate: str, scores: pd.DataFrame) -> pd.DataFrame:
    """A run's per-image table (id, split, score, ...) as a candidate's rows."""
    rows = scores[scores["split"].isin(["train", "test"])]
    return pd.DataFrame(
        {
            "id": rows["id"].to_numpy(),
            "split": rows["split"].to_numpy(),
            "candidate": candidate,
            "score": rows["score"].to_numpy(dtype=np.float64),
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


def beats(
    challenger: np.ndarray,
    baseline: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    seed: int = 0,
) -> bool:
    """Whether the ``challenger`` scores' AUC leads the ``baseline``'s by more than the
    uncertainty: the `GUARD_QUANTILE` of the lead over `GUARD_DRAWS` paired bootstrap draws of
    whole groups is above 0."""
    labels = np.asarray(labels, dtype=int)
    pair = np.c_[challenger, baseline].astype(np.float64)
    rng = np.random.default_rng(seed)
    leads = [
        np.subtract(*column_aucs(labels[rows], pair[rows]))
        for rows in resample_indices(len(labels), GUARD_DRAWS, rng, groups)
    ]
    return bool(np.nanquantile(leads, GUARD_QUANTILE) > 0)


def best_candidate(
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


def column_choice(
    matrix: np.ndarray,
    names: Sequence[str],
    labels: np.ndarray,
    groups: np.ndarray | None,
    name: str,
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> Choice:
    """Candidate ``name`` as the choice, with its cross-validated AUC and F1 threshold."""
    column = matrix[:, list(names).index(name)]
    ranking = cv_auc(column, labels, folds=folds, seed=seed, groups=groups)[0]
    return Choice(name, float(ranking), best_threshold(column, labels))


def choose(
    matrix: np.ndarray,
    names: Sequence[str],
    labels: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    baseline: str | None = None,
    folds: int = FOLDS,
    seed: int = 0,
) -> Choice:
    """`best_candidate`, or the ``baseline`` column unless choosing the best beats it on data
    the choice did not see: the best-candidate choice, nested on these rows
    (`nested_estimate`), must lead the baseline's AUC on the same held-out rows by more than
    the uncertainty (`beats`). The lead of the best of many candidates on the rows it was
    picked on is selection, not evidence."""
    labels = np.asarray(labels, dtype=int)
    best = best_candidate(matrix, names, labels, groups, folds=folds, seed=seed)
    if baseline is None or best.candidate == baseline:
        return best
    fallback = column_choice(matrix, names, labels, groups, baseline, folds=folds, seed=seed)
    column = list(names).index(baseline)
    try:
        held = nested_estimate(matrix, names, labels, groups, folds=folds, seed=seed + 1)
    except InputError:  # too few groups to check the lead: keep the baseline
        return fallback
    if beats(held.scores, matrix[:, column], labels, groups, seed=seed):
        return best
    return fallback


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
    baseline: str | None = None,
    folds: int = FOLDS,
    seed: int = 0,
) -> NestedResult:
    """Nested cross-validation of `choose` (with its guard when ``baseline`` is given): in each
    outer grouped fold the choice (candidate and threshold) is made on the fit part alone, with
    inner grouped folds, and applied to the held-out part."""
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
            baseline=baseline,
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
    #: id, split, label, score, used (labelled images: the nested loop's held-out scores, as
    #: percentiles of their fold's fit rows, and decisions; in-sample where it was withheld)
    scores: pd.DataFrame
    #: why no choice, nested figure or verdict was made ("" when they were)
    withheld: str = ""
    #: labelled groups of the not-used and the used class
    groups_per_class: tuple[int, int] = (0, 0)


def select(
    candidates: pd.DataFrame,
    view: MembershipView,
    *,
    given_groups: bool = True,
    groups_at_chance: bool = True,
    folds: int = FOLDS,
    seed: int = 0,
    n_boot: int = 1000,
) -> Selection:
    """Choose on the labelled training split (``view.train``) among ``candidates``
    (`CANDIDATE_COLUMNS`), estimate the choice by nested cross-validation, decide the test
    images (by rank where the test split has its own generator:
    `decisions.transferred_threshold`), and only then read their labels to evaluate.

    ``given_groups``: the groups came from the user (else label-using candidates are left out);
    ``groups_at_chance``: their labelled-neighbour check passed (else the choice is withheld).
    """
    train, test_ids = view.train, view.test
    labels = train["label"].to_numpy(dtype=int)
    train_groups = group_keys(view.groups, train["id"])
    if not given_groups:
        candidates = candidates[~candidates["candidate"].map(uses_labels)]
    train_matrix, names = score_matrix(
        candidates[candidates["split"] == "train"], train["id"].tolist()
    )
    baseline = BASELINE if BASELINE in names else None
    keys = train["id"].to_numpy() if train_groups is None else train_groups
    counts = groups_per_class(labels, keys)
    withheld = ""
    if min(counts) < MIN_GROUPS_PER_CLASS:
        withheld = (
            f"{min(counts)} labelled groups (patients / blocks) in a class, fewer than "
            f"{MIN_GROUPS_PER_CLASS}: add labelled images of other patients"
        )
    elif not groups_at_chance:
        withheld = (
            "labelled neighbours tell the labels under these groups (membership/"
            "groups_check.tsv): give membership.groups (patient / series per image)"
        )
    if withheld and baseline is not None:
        choice = column_choice(train_matrix, names, labels, keys, baseline, folds=folds, seed=seed)
    else:
        choice = choose(
            train_matrix, names, labels, train_groups, baseline=baseline, folds=folds, seed=seed
        )
    column = names.index(choice.candidate)
    metrics: Metrics = {
        "cv_auc_train": (choice.cv_auc, np.nan, np.nan),
        "threshold": (choice.threshold, np.nan, np.nan),
        "candidates": (float(len(names)), np.nan, np.nan),
    }
    nested = None
    if not withheld:
        nested = nested_estimate(
            train_matrix, names, labels, train_groups, baseline=baseline, folds=folds, seed=seed
        )
        for name, metric, values in (
            ("auc", auc, nested.scores),
            ("f1", f1, nested.decisions),
            ("kappa", kappa, nested.decisions),
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
    if nested is None:
        train_scores = train_matrix[:, column]
        train_used = train_scores >= choice.threshold
    else:
        train_scores, train_used = nested.scores, nested.decisions
    run = finish_run(
        view,
        train_scores,
        np.asarray(train_used, dtype=int),
        test_scores,
        choice.threshold,
        metrics,
        n_boot=n_boot,
        seed=seed,
        threshold_scores=train_matrix[:, column],  # the table's may be nested percentiles
    )
    return Selection(choice, nested, run.metrics, run.scores, withheld, tuple(counts))


def verdict(
    chosen: tuple[float, float, float],
    control: tuple[float, float, float],
    withheld: str = "",
) -> str:
    """`LEAKAGE_SHOWN` when the answer's AUC interval ``(value, low, high)`` lies wholly above
    0.5 and above the labelled-neighbour control's (grouped intervals); `WITHHELD` when the
    selection withheld its figures; else `NOT_SHOWN`."""
    if withheld:
        return WITHHELD
    low, high = chosen[1], control[2]
    if np.isnan(low) or np.isnan(high):
        return NOT_SHOWN
    return LEAKAGE_SHOWN if low > 0.5 and low > high else NOT_SHOWN


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
    labelled images scored without their group, so both are held-out figures; it is also the
    groups' check). ``cv_auc_after_selection`` is the winner's own cross-validated AUC on the
    data it was chosen on: in-sample, after selection, never an estimate."""
    m = selection.metrics
    not_used, used = selection.groups_per_class
    row: dict[str, object] = {
        "dataset": dataset,
        "run": selection.choice.candidate,
        "groups": str(groups["source"].iloc[0]) if len(groups) else "",
        "n_groups": int(groups["group"].nunique()),
        "used_groups": used,
        "not_used_groups": not_used,
        "withheld": selection.withheld,
        "test_with_labelled_group": shared_group_fraction(selection.scores, groups),
        "candidates": int(m["candidates"][0]),
        "cv_auc_after_selection": m["cv_auc_train"][0],
        **_triple(m, "auc_nested", "auc_nested"),
        **_triple(m, "f1_nested", "f1_nested"),
        **_triple(m, "kappa_nested", "kappa_nested"),
        "f1_all_used_nested": m.get("f1_all_used_nested", (np.nan,))[0],
        "threshold": m["threshold"][0],
        **_triple(m, "auc_test", "auc_test"),
        **_triple(m, "f1_test", "f1_test"),
        **_triple(m, "kappa_test", "kappa_test"),
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
    row["verdict"] = verdict(
        chosen, against if against is not None else (np.nan,) * 3, selection.withheld
    )
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

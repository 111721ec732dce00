"""Membership decisions from per-image scores, shared by every membership method.

A method gives each real image a score (higher: more likely used to train the generator). The
decision threshold is the one that maximises F1 on the labelled training split; the honest
training-split estimate of a setting is the F1 of *cross-validated* decisions (each fold
thresholded on the other folds). Settings are ranked by a threshold-free score, the
cross-validated AUC (`cv_auc`): F1 rewards calling every image used (0.667 at 50 / 50), so the
F1 of that trivial answer (`f1_all_used`) is reported beside every F1. Test labels are read only
by `finish_run`, after every choice; the metrics themselves are `membership.metrics`.

CT slices come in near-duplicate neighbours and patients, so every fold and interval takes an
optional ``groups`` (one key per image, `medimprint.data.groups`): folds keep a group whole
(stratified group k-fold) and intervals resample whole groups; without groups each image is its
own group.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from medimprint.data.manifest import file_name
from medimprint.errors import InputError
from medimprint.io import write_table
from medimprint.membership.metrics import DECISION_METRICS, Metrics, column_aucs, evaluate

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


def generated_ids(manifest: pd.DataFrame, split: str) -> list[str]:
    """Ids of the generated images the real images of ``split`` are scored against: for the
    test split its own generated images when the dataset gives them
    (``membership.generated_test``: the task may ship the test split from another generator),
    else the training split's."""
    generated = manifest[manifest["role"] == "generated"]
    of_test = generated["split"] == "test"
    if split == "test" and of_test.any():
        return generated.loc[of_test, "id"].tolist()
    return generated.loc[~of_test, "id"].tolist()


def has_test_generator(manifest: pd.DataFrame) -> bool:
    """Whether the test split has generated images of its own."""
    return bool(((manifest["role"] == "generated") & (manifest["split"] == "test")).any())


@dataclass
class FeatureSplits:
    """A membership dataset's features by role: the generated images each split is scored
    against (``generated``, ``generated_test``: the same rows without a test generator),
    labelled real training images (``train``: id, label) and real test images (``test`` ids),
    rows in those orders."""

    generated: np.ndarray
    train: pd.DataFrame
    train_x: np.ndarray
    test: list[str]
    test_x: np.ndarray
    generated_test: np.ndarray
    #: the labelled rows in the test split's scale (what test images are compared with)
    train_x_as_test: np.ndarray
    #: whether the test split has generated images of its own
    test_generator: bool


def feature_splits(
    manifest: pd.DataFrame, ids: list[str], features: np.ndarray, *, standardise: bool = True
) -> FeatureSplits:
    """Rows of ``features`` (named by ``ids``) for the generated, labelled training and test
    images, in float64; with ``standardise``, each split z-scored by the statistics of the
    generated images it is scored against (which need no label)."""
    table = pd.DataFrame(np.asarray(features, dtype=np.float64), index=pd.Index(ids))
    train, test = training_labels(manifest), real_test_ids(manifest)
    test_generator = has_test_generator(manifest)
    parts = {}
    for split in ("train", "test") if test_generator else ("train",):
        generated = generated_ids(manifest, split)
        if len(generated) < 2:
            raise InputError(
                f"membership needs at least 2 generated images for its {split} split, got "
                f"{len(generated)}"
            )
        rows = [table.loc[generated], table.loc[train["id"]], table.loc[test]]
        parts[split] = [part.to_numpy() for part in rows]
        if standardise:
            scaler = StandardScaler().fit(parts[split][0])
            parts[split] = [scaler.transform(part) for part in parts[split]]
    # without a test generator both splits are scored against (and scaled by) the same rows
    gen, train_x, _ = parts["train"]
    gen_test, train_x_as_test, test_x = parts.get("test", parts["train"])
    return FeatureSplits(
        gen, train, train_x, test, test_x, gen_test, train_x_as_test, test_generator
    )


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
    groups: pd.Series | None = None,
    transfer: bool = False,
) -> ScoredRun:
    """Decide used / not used from scores and evaluate.

    Without ``threshold`` it is tuned on the training split (`best_threshold`) and training
    decisions are cross-validated on folds that keep ``groups`` (group by id) whole (where a
    class is one group there are no such folds: training decision metrics are then NaN, and the
    per-image table holds in-sample decisions); a given
    ``threshold`` is a method's own fixed rule, applied to both splits. Intervals resample
    whole groups. With ``transfer`` (the test split has its own generator) the threshold
    decides the test images by rank (`transferred_threshold`). Test labels (``truth``, by id)
    are read only after every decision.
    """
    labels = train["label"].to_numpy()
    train_groups = group_keys(groups, train["id"])
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
        train,
        train_scores,
        train_decisions,
        test_ids,
        test_scores,
        threshold,
        truth,
        metrics,
        groups=groups,
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
    train: pd.DataFrame,
    train_scores: np.ndarray,
    train_decisions: np.ndarray,
    test_ids: list[str],
    test_scores: np.ndarray,
    threshold: float,
    truth: pd.Series | None,
    metrics: Metrics,
    *,
    groups: pd.Series | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    transfer: bool = False,
    threshold_scores: np.ndarray | None = None,
) -> ScoredRun:
    """Decide the test images by ``threshold`` (with ``transfer``, by its rank among
    ``threshold_scores``, the training scores it was set on, ``train_scores`` by default:
    `transferred_threshold`), then (and only then) read their labels (``truth``, by id) to add
    test metrics (grouped intervals) to ``metrics``; return the run with its per-image table
    (id, split, label, score, used)."""
    if transfer:
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
                groups=group_keys(groups, test_ids),
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


def submission(ids: list[str], decisions: np.ndarray) -> pd.DataFrame:
    """The task's submission rows, ``<file name>,<0|1>`` (write without a header), sorted by
    name; every test image exactly once, named as the user's file is (`data.manifest.file_name`)."""
    names = [file_name(image_id) for image_id in ids]
    if len(set(names)) != len(names):
        raise ValueError("duplicate image names in a membership submission")
    rows = pd.DataFrame({"id": names, "used": np.asarray(decisions, dtype=int)})
    return rows.sort_values("id").reset_index(drop=True)


def write_run(
    scores: pd.DataFrame, scores_path: str | os.PathLike, submission_path: str | os.PathLike
) -> None:
    """Write a run's per-image table and the task's submission of its test rows (no header)."""
    write_table(scores_path, scores)
    tested = scores[scores["split"] == "test"]
    write_table(submission_path, submission(tested["id"].tolist(), tested["used"]), header=False)

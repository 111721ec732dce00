"""Membership runs on a membership dataset: the paper's reconstruction-error runs (mean-MSE,
SSIM), attacks beyond the paper (nearest-neighbour, epsilon-ball and density-ratio in a feature
space), and their rank ensemble.

The reference set of known not-used images is the dataset's labelled not-used training images
(each scored leave-one-out against it). Every choice (epsilon, ensemble members, threshold) is
made on the labelled training split; test labels are read by `membership.decide` last.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from medimprint.attacks import (
    choose_ensemble,
    choose_epsilon,
    domias_scores,
    gan_leaks_scores,
    mean_mse_scores,
    monte_carlo_scores,
    rank_average,
    ssim_scores,
)
from medimprint.errors import InputError
from medimprint.membership import (
    ScoredRun,
    decide,
    feature_splits,
    real_test_ids,
    real_test_labels,
    training_labels,
)

#: Attacks on one feature space, by name.
ATTACKS = ("gan_leaks", "monte_carlo", "domias")
#: The paper's runs on the autoencoder's reconstruction-error maps.
RECONSTRUCTION_RUNS = ("mean_mse", "ssim")
#: Feature spaces compared as they are (pixel intensities); others are standardised on the
#: generated images first.
RAW_SPACES = ("pixels",)


def run_id(attack: str, space: str) -> str:
    """An attack run's id in the metrics table."""
    return f"attacks/{attack}/{space}"


def run_attack(
    manifest: pd.DataFrame,
    ids: list[str],
    features: np.ndarray,
    attack: str,
    *,
    space: str,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> tuple[ScoredRun, pd.DataFrame | None]:
    """One attack in one feature space; returns the run and, for Monte Carlo, the epsilon
    search table."""
    if attack not in ATTACKS:
        raise InputError(f"unknown membership attack {attack!r}; use one of {ATTACKS}")
    splits = feature_splits(manifest, ids, features, standardise=space not in RAW_SPACES)
    train, test = splits.train, splits.test
    labels = train["label"].to_numpy()
    reference = train.loc[labels == 0, "id"].tolist()
    rows = {
        "gen": splits.generated,
        "train": splits.train_x,
        "test": splits.test_x,
        "ref": splits.train_x[labels == 0],
    }
    search = None
    if attack == "monte_carlo":
        epsilon, search = choose_epsilon(rows["train"], labels, rows["gen"], folds=folds, seed=seed)

        def score(x: np.ndarray, _: list[str]) -> np.ndarray:
            return monte_carlo_scores(x, rows["gen"], epsilon)
    else:
        attack_fn = gan_leaks_scores if attack == "gan_leaks" else domias_scores

        def score(x: np.ndarray, query_ids: list[str]) -> np.ndarray:
            return attack_fn(x, rows["gen"], rows["ref"], query_ids, reference)

    run = decide(
        train,
        score(rows["train"], train["id"].tolist()),
        test,
        score(rows["test"], test),
        real_test_labels(manifest),
        folds=folds,
        seed=seed,
        n_boot=n_boot,
    )
    if search is not None:
        run.metrics["epsilon"] = (float(epsilon), float("nan"), float("nan"))
    return run, search


def run_ensemble(
    manifest: pd.DataFrame,
    scores: Mapping[str, pd.DataFrame],
    *,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> tuple[ScoredRun, pd.DataFrame]:
    """Rank-average of the attack runs (``{run id: per-image table with id, split, score}``)
    whose subset has the best cross-validated training F1; returns the run (its metrics hold
    the number of members) and the table of every subset tried."""
    train, test = training_labels(manifest), real_test_ids(manifest)
    by_id = {name: table.set_index("id")["score"] for name, table in scores.items()}
    train_columns = {name: s.loc[train["id"]].to_numpy(dtype=float) for name, s in by_id.items()}
    test_columns = {name: s.loc[test].to_numpy(dtype=float) for name, s in by_id.items()}
    labels = train["label"].to_numpy()
    members, subsets = choose_ensemble(train_columns, labels, folds=folds, seed=seed)
    chosen = {name: train_columns[name] for name in members}
    run = decide(
        train,
        rank_average(chosen),
        test,
        rank_average({name: test_columns[name] for name in members}, chosen),
        real_test_labels(manifest),
        folds=folds,
        seed=seed,
        n_boot=n_boot,
    )
    run.metrics["members"] = (float(len(members)), float("nan"), float("nan"))
    return run, subsets


def run_reconstruction(
    manifest: pd.DataFrame,
    ids: list[str],
    errors: np.ndarray,
    method: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> ScoredRun:
    """The paper's method B on error maps (``N x H x W`` by ``ids``): ``mean_mse`` (nearest of
    the used / not-used centroids of the mean error) or ``ssim`` (higher SSIM with the used /
    not-used mean error map). Its own rule decides, as in the paper (score >= 0: nearer or more
    similar to the used class; exact ties count as used); no threshold is tuned."""
    if method not in RECONSTRUCTION_RUNS:
        raise InputError(f"unknown reconstruction run {method!r}; use one of {RECONSTRUCTION_RUNS}")
    rows = {image_id: row for row, image_id in enumerate(ids)}
    train, test = training_labels(manifest), real_test_ids(manifest)
    missing = [i for i in [*train["id"], *test] if i not in rows]
    if missing:
        raise InputError(
            f"no reconstruction errors for {len(missing)} real images (first: {missing[:3]}); "
            "delete errors.h5 so the workflow rebuilds it"
        )
    train_maps = errors[[rows[i] for i in train["id"]]]
    test_maps = errors[[rows[i] for i in test]]
    labels = train["label"].to_numpy()
    score = mean_mse_scores if method == "mean_mse" else ssim_scores
    return decide(
        train,
        score(train_maps, labels),  # each training image left out of its class's mean
        test,
        score(train_maps, labels, test_maps),
        real_test_labels(manifest),
        threshold=0.0,
        seed=seed,
        n_boot=n_boot,
    )

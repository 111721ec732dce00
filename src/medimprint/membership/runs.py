"""Membership runs on a membership dataset: the paper's reconstruction-error runs (mean-MSE,
SSIM), attacks beyond the paper (nearest-neighbour, epsilon-ball and density-ratio in a feature
space), and their rank ensemble.

The reference set of known not-used images is the dataset's labelled not-used training images
(each scored against it without its own group: patient or block of slices). Every choice
(epsilon, ensemble members, threshold) is made on the labelled training split; test labels are
read by `membership.decide` last. Each run also returns its candidates (its score at every inner
setting) for the dataset's honest selection (`medimprint.membership.selection`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from medimprint.data.views import (
    MembershipView,
)
from medimprint.errors import InputError
from medimprint.membership.attacks import (
    EPSILON_QUANTILES,
    PATCH_AGGREGATES,
    domias_scores,
    epsilon_candidates,
    gan_leaks_scores,
    monte_carlo_variants,
    patch_leaks_scores,
    rank_epsilons,
)
from medimprint.membership.calibrations import (
    ALIGN_SHIFTS,
    REAL_CALIBRATIONS,
    SHIFTS,
    aligned_nearest_variants,
    real_calibrated_variants,
    shift_calibrated_scores,
)
from medimprint.membership.decisions import ScoredRun, decide
from medimprint.membership.ensemble import choose_ensemble, rank_average
from medimprint.membership.error_maps import mean_mse_scores, ssim_scores
from medimprint.membership.folds import exclusion_keys, group_keys
from medimprint.membership.selection import candidate_name, candidate_table
from medimprint.membership.splits import feature_splits
from medimprint.names import (
    ATTACKS,
    RAW_SPACES,
    RECONSTRUCTION_RUNS,
    attack_run_id,
    reconstruction_run_id,
    runs_in,
)

#: Label-free image attacks with a shift setting: (their scores at every shift offered, by
#: shift; the shift that decides the run).
SHIFTED = {
    "shift_calibrated": (
        lambda query, generated: {
            shift: shift_calibrated_scores(query, generated, shift=shift) for shift in SHIFTS
        },
        SHIFTS[0],
    ),
    "aligned_nearest": (aligned_nearest_variants, ALIGN_SHIFTS[-1]),
}


def run_attack(
    manifest: pd.DataFrame,
    ids: list[str],
    features: np.ndarray,
    attack: str,
    *,
    space: str,
    groups: pd.Series | None = None,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> tuple[ScoredRun, pd.DataFrame | None]:
    """One attack in one feature space; returns the run and, for Monte Carlo, the epsilon
    search table. The run's candidates hold its score at every inner setting (Monte Carlo at
    every epsilon, deciding at the one chosen on the training split; the patch attack under
    every aggregate of its blocks, deciding by the mean; the shift calibration at every shift,
    deciding at the first; the aligned nearest neighbour at every largest shift, deciding at
    the last; the real calibration both ways, deciding by the difference). Labelled images are
    scored against the reference outside their group (``groups``: group by id; else outside
    themselves)."""
    if attack not in ATTACKS:
        raise InputError(f"unknown membership attack {attack!r}; use one of {ATTACKS}")
    if not runs_in(attack, space):
        raise InputError(f"{attack} compares image blocks: run it in {RAW_SPACES}, not {space!r}")
    splits = feature_splits(manifest, ids, features, standardise=space not in RAW_SPACES)
    train, test = splits.train, splits.test
    labels = train["label"].to_numpy()
    keys = group_keys(groups, train["id"])
    train_keys = exclusion_keys(groups, train)
    # the test split is scored against its own generated images when it has them, with the
    # labelled reference in the same scale
    gen, ref = splits.generated, splits.train_x[labels == 0]
    gen_test, ref_test = splits.generated_test, splits.train_x_as_test[labels == 0]
    ref_keys = train_keys[labels == 0]
    search = None
    # {inner setting: (training scores, test scores)}, and the setting that decides the run
    if attack == "monte_carlo":
        epsilons = epsilon_candidates(splits.train_x, gen)
        # a test generator's distances sit on their own scale: the quantile q transfers
        test_epsilons = (
            epsilon_candidates(splits.test_x, gen_test) if splits.test_generator else epsilons
        )
        train_all = monte_carlo_variants(splits.train_x, gen, epsilons)
        test_all = monte_carlo_variants(splits.test_x, gen_test, test_epsilons)
        best, search = rank_epsilons(
            train_all, labels, epsilons, folds=folds, seed=seed, groups=keys
        )
        variants = {
            f"q={q:g}": (train_all[:, j], test_all[:, j]) for j, q in enumerate(EPSILON_QUANTILES)
        }
        setting = f"q={EPSILON_QUANTILES[best]:g}"
    elif attack == "patch_leaks":
        train_blocks = patch_leaks_scores(splits.train_x, gen, ref, train_keys, ref_keys)
        test_blocks = patch_leaks_scores(splits.test_x, gen_test, ref_test, None, ref_keys)
        variants = {
            f"agg={agg}": (reduce(train_blocks), reduce(test_blocks))
            for agg, reduce in PATCH_AGGREGATES.items()
        }
        setting = "agg=mean"
    elif attack in SHIFTED:
        score_variants, deciding = SHIFTED[attack]
        train_all, test_all = (
            score_variants(splits.train_x, gen),
            score_variants(splits.test_x, gen_test),
        )
        variants = {f"shift={shift}": (train_all[shift], test_all[shift]) for shift in train_all}
        setting = f"shift={deciding}"
    elif attack == "real_calibrated":
        # each split against its own real images, labels unread, leaving out each one's group
        split_scores = []
        for x, generated, ids_ in (
            (splits.train_x, gen, train["id"].to_numpy()),
            (splits.test_x, gen_test, np.asarray(test)),
        ):
            keys = ids_ if groups is None else group_keys(groups, ids_)
            split_scores.append(real_calibrated_variants(x, generated, x, keys, keys))
        variants = {
            f"calibration={c}": tuple(s[c] for s in split_scores) for c in REAL_CALIBRATIONS
        }
        setting = "calibration=difference"
    else:
        attack_fn = gan_leaks_scores if attack == "gan_leaks" else domias_scores
        variants = {
            "": (
                attack_fn(splits.train_x, gen, ref, train_keys, ref_keys),
                attack_fn(splits.test_x, gen_test, ref_test, None, ref_keys),
            )
        }
        setting = ""
    train_scores, test_scores = variants[setting]
    name = attack_run_id(attack, space)
    candidates = pd.concat(
        [
            candidate_table(candidate_name(name, key), train["id"], a, test, b)
            for key, (a, b) in variants.items()
        ],
        ignore_index=True,
    )
    run = decide(
        MembershipView.of(manifest, groups),
        train_scores,
        test_scores,
        folds=folds,
        seed=seed,
        n_boot=n_boot,
    )
    run.candidates = candidates
    if search is not None:
        run.metrics["epsilon"] = (float(epsilons[best]), float("nan"), float("nan"))
    return run, search


def run_ensemble(
    manifest: pd.DataFrame,
    scores: Mapping[str, pd.DataFrame],
    *,
    groups: pd.Series | None = None,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> tuple[ScoredRun, pd.DataFrame]:
    """Rank-average of the attack runs (``{run id: per-image table with id, split, score}``)
    whose subset has the best cross-validated training AUC on grouped folds; returns the run
    (its metrics hold the number of members) and the table of every subset tried."""
    view = MembershipView.of(manifest, groups)
    train, test = view.train, view.test
    by_id = {name: table.set_index("id")["score"] for name, table in scores.items()}
    train_columns = {name: s.loc[train["id"]].to_numpy(dtype=float) for name, s in by_id.items()}
    test_columns = {name: s.loc[test].to_numpy(dtype=float) for name, s in by_id.items()}
    labels = train["label"].to_numpy()
    members, subsets = choose_ensemble(
        train_columns, labels, folds=folds, seed=seed, groups=group_keys(groups, train["id"])
    )
    chosen = {name: train_columns[name] for name in members}
    # test scores rank among the training ones, or among themselves against a test generator
    reference = None if view.test_generator else chosen
    run = decide(
        view,
        rank_average(chosen),
        rank_average({name: test_columns[name] for name in members}, reference),
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
    groups: pd.Series | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ScoredRun:
    """The paper's method B on error maps (``N x H x W`` by ``ids``): ``mean_mse`` (nearest of
    the used / not-used centroids of the mean error) or ``ssim`` (higher SSIM with the used /
    not-used mean error map). Its own rule decides, as in the paper (score >= 0: nearer or more
    similar to the used class; exact ties count as used); no threshold is tuned. Labelled images
    are scored against class means without their group (``groups``; else without
    themselves). Where the test split has its own generator (and autoencoder), its maps are
    compared as deviations from their own mean, and decided by the rule's rank."""
    if method not in RECONSTRUCTION_RUNS:
        raise InputError(f"unknown reconstruction run {method!r}; use one of {RECONSTRUCTION_RUNS}")
    rows = {image_id: row for row, image_id in enumerate(ids)}
    view = MembershipView.of(manifest, groups)
    train, test = view.train, view.test
    missing = [i for i in [*train["id"], *test] if i not in rows]
    if missing:
        raise InputError(
            f"no reconstruction errors for {len(missing)} real images (first: {missing[:3]}); "
            "delete errors.h5 so the workflow rebuilds it"
        )
    train_maps = errors[[rows[i] for i in train["id"]]]
    test_maps = errors[[rows[i] for i in test]]
    if view.test_generator and len(
        test_maps
    ):  # another autoencoder: compare deviations from its mean
        test_maps = test_maps - test_maps.mean(axis=0) + train_maps.mean(axis=0)
    labels = train["label"].to_numpy()
    score = mean_mse_scores if method == "mean_mse" else ssim_scores
    # each training image left out of its class's mean, with its whole group
    train_scores = score(train_maps, labels, groups=exclusion_keys(groups, train))
    test_scores = score(train_maps, labels, test_maps)
    run = decide(view, train_scores, test_scores, threshold=0.0, seed=seed, n_boot=n_boot)
    run.candidates = candidate_table(
        reconstruction_run_id(method), train["id"], train_scores, test, test_scores
    )
    return run

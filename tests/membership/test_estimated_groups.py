"""Groups estimated from the slices themselves, as a user of the task's data must (no groups
file): stacks of slices whose neighbours are near-duplicates, cut into blocks that go to used,
not used and test with no gap between them. Feature arrays only, so 20 seeds run in seconds."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from audits import attack_candidates, noise_candidates
from sklearn.metrics import adjusted_rand_score

from medimprint.data.groups import groups_by_id, segment_levels
from medimprint.data.views import MembershipView, real_test_ids, training_labels
from medimprint.membership.controls import (
    check_passed,
    checked_groups,
    neighbour_check,
    run_controls,
)
from medimprint.membership.selection import (
    BASELINE,
    LEAKAGE_SHOWN,
    candidate_table,
    scores_candidate,
    select,
    summary,
)

DIM = 32


def _stacks(
    seed: int, *, memorise: bool, patients: int = 10, slices: int = 30, block: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(manifest, features by id, true block and patient by real id): each patient a smooth
    walk of ``slices`` slices (neighbours near-duplicates), cut into blocks of ``block`` that
    go alternately shuffled to used and not used, half of each class's blocks to the test split,
    no gap between blocks. 300 generated images: a Gaussian fitted to all real slices (null) or
    noisy copies of used slices."""
    rng = np.random.default_rng(seed)
    walks = [
        3 * rng.normal(size=DIM) + np.cumsum(0.35 * rng.normal(size=(slices, DIM)), axis=0)
        for _ in range(patients)
    ]
    real = np.vstack(walks)
    patient = np.repeat(np.arange(patients), slices)
    blocks = patient * 1000 + np.tile(np.arange(slices), patients) // block
    names, index = np.unique(blocks, return_inverse=True)
    status = rng.permutation(np.arange(len(names)) % 2)
    test = np.zeros(len(names), dtype=bool)
    for cls in (0, 1):
        members = rng.permutation(np.flatnonzero(status == cls))
        test[members[: len(members) // 2]] = True
    used, in_test = status[index], test[index]
    if memorise:
        pool = real[used == 1]
        generated = pool[rng.integers(0, len(pool), 300)] + 0.1 * rng.normal(size=(300, DIM))
    else:
        generated = rng.normal(size=(300, DIM)) * real.std(axis=0) + real.mean(axis=0)
    ids = [f"s{i:04d}" for i in range(len(real))]
    gen_ids = [f"g{i:04d}" for i in range(len(generated))]
    manifest = pd.DataFrame(
        {
            "id": ids + gen_ids,
            "path": "",
            "role": ["real"] * len(ids) + ["generated"] * len(gen_ids),
            "split": ["test" if t else "train" for t in in_test] + [""] * len(gen_ids),
            "label": [str(u) for u in used] + [""] * len(gen_ids),
        }
    )
    features = pd.DataFrame(np.vstack([real, generated]), index=ids + gen_ids)
    truth = pd.DataFrame({"block": blocks, "patient": patient}, index=ids)
    return manifest, features, truth


def _estimate(manifest, features, seed=0):
    real = manifest.loc[manifest["role"] == "real", "id"]
    return checked_groups(manifest, features.loc[real], None, n_boot=100, seed=seed)


def _split_neighbours(groups: pd.Series, truth: pd.DataFrame) -> float:
    """Fraction of adjacent slices of one block that the groups put apart."""
    block, key = truth["block"].to_numpy(), groups.loc[truth.index].to_numpy()
    same_block = block[1:] == block[:-1]
    return float((key[1:] != key[:-1])[same_block].mean())


def test_levels_are_nested_runs_of_neighbouring_slices():
    _, features, truth = _stacks(0, memorise=False, patients=3)
    real = features.loc[truth.index].to_numpy()
    levels = segment_levels(real)
    assert len(np.unique(levels[0])) == len(real) and len(np.unique(levels[-1])) == 2
    for finer, coarser in itertools.pairwise(levels):
        assert len(np.unique(coarser)) < len(np.unique(finer))
        for piece in np.unique(finer):  # a coarser level only merges pieces
            assert len(np.unique(coarser[finer == piece])) == 1
    z = np.tile(np.arange(30), 3)
    for level in levels[2:-1]:
        for piece in np.unique(level):  # a piece is one patient's run of neighbouring slices
            rows = np.flatnonzero(level == piece)
            assert len(np.unique(truth["patient"].to_numpy()[rows])) == 1
            assert np.ptp(z[rows]) == len(rows) - 1


def test_check_fails_when_groups_split_blocks():
    """Under groups that split each block, labelled neighbours tell the labels: the check is
    not at chance; under whole patients it is."""
    manifest, features, truth = _stacks(1, memorise=False)
    train = training_labels(manifest)
    x = features.loc[train["id"]].to_numpy()
    labels = train["label"].to_numpy(dtype=int)
    z = np.tile(np.arange(30), 10)[[int(i[1:]) for i in train["id"]]]
    halves = (
        truth.loc[train["id"], "block"].astype(str) + "_" + (z % 5 < 2).astype(str)
    ).to_numpy()
    split = neighbour_check(x, labels, halves, n_boot=200, seed=0)
    whole = neighbour_check(
        x, labels, truth.loc[train["id"], "patient"].to_numpy(), n_boot=200, seed=0
    )
    assert split[0] > 0.8 and split[1] > 0.5
    assert whole[1] <= 0.5 <= whole[2] and abs(whole[0] - 0.5) <= 0.1


def test_estimated_groups_keep_blocks_whole():
    """Over 5 seeds the estimate passes its own check, splits few adjacent slices of a block
    (the nearest-neighbour linking it replaces split about a third), and follows the blocks and
    patients."""
    split, ari = [], []
    for seed in range(5):
        manifest, features, truth = _stacks(seed, memorise=False)
        table, check = _estimate(manifest, features, seed)
        assert check_passed(check) and check["chosen"].sum() == 1
        groups = groups_by_id(table)
        split.append(_split_neighbours(groups, truth))
        ari.append(adjusted_rand_score(truth["patient"], groups.loc[truth.index]))
    assert max(split) <= 0.15 and np.mean(split) <= 0.1, split
    assert np.mean(ari) > 0.3, ari


def _audit(seed: int, *, memorise: bool, noise: int = 20, given_groups: bool = False):
    """The answer on a stacks world with estimated groups: Monte Carlo and GAN-Leaks in the
    feature space, pure-noise candidates, a candidate that reads the training labels (as a
    reference attack's scores can), and the baseline."""
    manifest, features, _ = _stacks(seed, memorise=memorise)
    table, check = _estimate(manifest, features, seed)
    groups = groups_by_id(table)
    train, test = training_labels(manifest), real_test_ids(manifest)
    tables = attack_candidates(manifest, features, groups, ("monte_carlo", "gan_leaks"))
    rng = np.random.default_rng(1000 + seed)
    labels = train["label"].to_numpy(dtype=float)
    tables.append(  # a reference attack's name: its scores may carry the labels
        candidate_table(
            "attacks/domias/labels",
            train["id"],
            labels + rng.normal(scale=0.3, size=len(train)),
            test,
            rng.normal(size=len(test)),
        )
    )
    tables += noise_candidates(rng, train, test, noise)
    controls = run_controls(manifest, features, groups, n_boot=100, seed=seed)
    tables.append(scores_candidate(BASELINE, controls["nearest_generated"].scores))
    chosen = select(
        pd.concat(tables, ignore_index=True),
        MembershipView.of(manifest, groups),
        given_groups=given_groups,
        groups_at_chance=check_passed(check),
        n_boot=100,
        seed=seed,
    )
    metrics = {name: run.metrics for name, run in controls.items()}
    return chosen, summary("stacks", chosen, metrics, table).iloc[0]


@pytest.fixture(scope="module")
def null_stacks():
    return [_audit(seed, memorise=False)[1] for seed in range(20)]


def test_null_generator_with_estimated_groups_stays_at_chance(null_stacks):
    nested = np.array([row["auc_nested"] for row in null_stacks])
    covered = [row["auc_nested_low"] <= 0.5 <= row["auc_nested_high"] for row in null_stacks]
    assert abs(nested.mean() - 0.5) <= 0.05, nested
    assert sum(covered) >= 17, covered
    assert not any(row["verdict"] == LEAKAGE_SHOWN for row in null_stacks)


def test_labels_reach_no_candidate_under_estimated_groups(null_stacks):
    """A candidate whose training scores carry the labels would win every choice; under
    estimated groups no label-using candidate takes part, so none is ever the answer and the
    nested figure stays at chance. With groups the user gave, it takes part (and wins)."""
    assert all(row["run"] != "attacks/domias/labels" for row in null_stacks)
    assert all(not row["run"].startswith("attacks/gan_leaks") for row in null_stacks)
    chosen, _ = _audit(0, memorise=False, given_groups=True)
    assert chosen.choice.candidate == "attacks/domias/labels"


def test_memorising_generator_shows_leakage_with_estimated_groups():
    for seed in range(3):
        _, row = _audit(seed, memorise=True)
        assert row["withheld"] == "" and row["auc_nested"] > 0.9 and row["auc_test"] > 0.9
        assert row["verdict"] == LEAKAGE_SHOWN


def test_the_check_is_one_sided():
    """A control below chance (neighbours across block boundaries carry the other label)
    flatters nothing and passes; one above chance fails, even with a wide interval."""
    from medimprint.membership.controls import at_chance

    assert at_chance((0.30, 0.10, 0.49)) and at_chance((0.55, 0.35, 0.75))
    assert not at_chance((0.65, 0.40, 0.90))  # within the interval, too far above 0.5
    assert not at_chance((0.58, 0.51, 0.66))  # the interval excludes chance

"""A test split with its own generator (`membership.generated_test`), as the task may ship it:
every score of a test image is computed against the test split's generated images, and only
settings transfer from the training split. Feature arrays only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medimprint.data.views import MembershipView, real_test_labels
from medimprint.membership.controls import run_controls
from medimprint.membership.decisions import transferred_threshold
from medimprint.membership.metrics import auc
from medimprint.membership.regions import RegionSetup, run_regions
from medimprint.membership.runs import run_attack
from medimprint.membership.splits import feature_splits

DIM = 12


def _world(seed: int, *, own_test_generator: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """24 blocks of 4 slices, half used, half of each class's blocks in the test split. The
    development generator copies (with noise) the labelled used slices, the test generator the
    test split's used slices, noisier: another model, distances on another scale. Without
    ``own_test_generator`` the test generator's images are left out."""
    rng = np.random.default_rng(seed)
    n_groups = 24
    block = np.repeat(np.arange(n_groups), 4)
    real = rng.normal(size=(n_groups, DIM))[block] + 0.15 * rng.normal(size=(len(block), DIM))
    used = rng.permutation(np.r_[np.ones(12), np.zeros(12)]).astype(int)
    test = np.zeros(n_groups, dtype=bool)
    for cls in (0, 1):
        test[rng.permutation(np.flatnonzero(used == cls))[:6]] = True
    in_test, member = test[block], used[block] == 1

    def copies(rows: np.ndarray, n: int, noise: float) -> np.ndarray:
        return rows[rng.integers(0, len(rows), n)] + noise * rng.normal(size=(n, DIM))

    dev = copies(real[member & ~in_test], 200, 0.05)
    own = copies(real[member & in_test], 150, 0.12)
    ids = [f"r{i:03d}" for i in range(len(block))]
    status = zip(ids, in_test, used[block], strict=True)
    rows = [(i, "real", "test" if t else "train", str(u)) for i, t, u in status]
    rows += [(f"g{i:03d}", "generated", "train", "") for i in range(len(dev))]
    features = [real, dev]
    if own_test_generator:
        rows += [(f"t{i:03d}", "generated", "test", "") for i in range(len(own))]
        features.append(own)
    manifest = pd.DataFrame(rows, columns=["id", "role", "split", "label"]).assign(path="")
    return manifest, pd.DataFrame(np.vstack(features), index=manifest["id"].to_numpy())


def _test_auc(manifest: pd.DataFrame, run) -> float:
    truth = real_test_labels(manifest)
    tested = run.scores[run.scores["split"] == "test"]
    return auc(truth.loc[tested["id"]].to_numpy(), tested["score"].to_numpy())


def test_feature_splits_score_the_test_split_against_its_own_generator():
    manifest, features = _world(0)
    splits = feature_splits(manifest, features.index.tolist(), features.to_numpy())
    assert splits.test_generator and len(splits.generated) == 200
    assert len(splits.generated_test) == 150
    # each split standardised by the generated images it is scored against
    np.testing.assert_allclose(splits.generated_test.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(splits.generated.mean(axis=0), 0, atol=1e-9)
    assert not np.allclose(splits.train_x_as_test, splits.train_x)
    without = _world(0, own_test_generator=False)[0]
    kept = features.loc[without["id"]]
    plain = feature_splits(without, kept.index.tolist(), kept.to_numpy())
    assert not plain.test_generator
    np.testing.assert_array_equal(plain.generated_test, plain.generated)


@pytest.mark.parametrize("attack", ["monte_carlo", "gan_leaks", "shift_calibrated"])
def test_attacks_find_the_test_members_of_the_test_generator(attack):
    """Against the development generator the test split's members are strangers (AUC near
    chance); against its own generator they are found, and the threshold transfers by rank."""
    aucs = {}
    for own in (True, False):
        manifest, features = _world(1, own_test_generator=own)
        x = features.to_numpy()
        space = "pixels" if attack == "shift_calibrated" else "x"
        data = np.tile(x, (1, 6))[:, :64] if attack == "shift_calibrated" else x
        run, _ = run_attack(manifest, features.index.tolist(), data, attack, space=space, n_boot=0)
        aucs[own] = _test_auc(manifest, run)
        if own:
            test = run.scores[run.scores["split"] == "test"]
            train = run.scores[run.scores["split"] == "train"]
            assert abs(test["used"].mean() - (train["score"] >= run.threshold).mean()) < 0.1
    assert aucs[True] > 0.9 and aucs[False] < 0.75, aucs


def test_controls_and_regions_use_the_test_generator():
    manifest, features = _world(2)
    ids = features.index.tolist()
    controls = run_controls(manifest, features, None, n_boot=0)
    assert _test_auc(manifest, controls["nearest_generated"]) > 0.9
    regions = run_regions(
        manifest, ids, features.to_numpy(), RegionSetup(method="kmeans", ks=(4, 16)), n_boot=0
    )
    assert _test_auc(manifest, regions["min"]) > 0.8


def test_transferred_threshold_keeps_the_fraction_called_used():
    train = np.arange(10.0)
    test = 100 + 10 * np.arange(20.0)
    threshold = 6.5  # calls 3 of 10 training images used
    cut = transferred_threshold(threshold, train, test)
    assert (test >= cut).sum() == 6
    assert transferred_threshold(100.0, train, test) == np.inf  # calls none
    assert transferred_threshold(-1.0, train, test) == -np.inf  # calls all


def test_the_answer_transfers_its_threshold_by_rank():
    """The answer's training rows hold nested percentiles; its test decisions call the share
    of test images used that its threshold calls of the labelled ones, on their raw scores."""
    from medimprint.membership.selection import BASELINE, scores_candidate, select

    manifest, features = _world(3)
    groups = pd.Series(
        [f"b{int(i[1:]) // 4}" for i in manifest.loc[manifest["role"] == "real", "id"]],
        index=manifest.loc[manifest["role"] == "real", "id"].to_numpy(),
    )
    controls = run_controls(manifest, features, groups, n_boot=0)
    candidates = scores_candidate(BASELINE, controls["nearest_generated"].scores)
    view = MembershipView.of(manifest, groups)
    assert view.test_generator
    train, test = view.train, view.test
    chosen = select(candidates, view, n_boot=0)
    assert chosen.nested is not None and chosen.choice.candidate == BASELINE
    raw = controls["nearest_generated"].scores.set_index("id").loc[train["id"], "score"]
    share = float((raw >= chosen.choice.threshold).mean())
    tested = chosen.scores[chosen.scores["split"] == "test"]
    assert 0 < share < 1 and abs(tested["used"].mean() - share) <= 1 / len(test)

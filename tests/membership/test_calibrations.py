"""The label-free calibrations of the nearest neighbour: each finds what its idea says a
generator leaks where the plain nearest neighbour misses it, and the new ones stay at chance
under a null generator (20 seeds, intervals over whole blocks of slices)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from medimprint.errors import InputError
from medimprint.membership.calibrations import (
    aligned_nearest_scores,
    real_calibrated_scores,
    shift_calibrated_scores,
)
from medimprint.membership.metrics import auc
from medimprint.membership.runs import run_attack
from medimprint.neighbours import nearest_distances

SIDE = 12


def _slices(rng: np.random.Generator, n: int) -> np.ndarray:
    """Smooth random ``SIDE`` x ``SIDE`` images: structure a shift changes."""
    return np.stack([gaussian_filter(rng.normal(size=(SIDE, SIDE)), 1.5) for _ in range(n)])


def test_shift_calibration_tells_a_reproduced_slice_from_an_aligned_one():
    """Slices share an aligned layout (a bright disc); the generator reproduces some slices
    exactly. Those are far nearer to the generated set than their shifted copies are; slices
    it never saw are not, and no reference image is needed."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:16, :16]
    disc = ((yy - 8) ** 2 + (xx - 8) ** 2 < 30).astype(float)
    slices = disc + 0.3 * rng.random((40, 16, 16))
    members, others = slices[:20].reshape(20, -1), slices[20:].reshape(20, -1)
    generated = np.vstack([members, (disc + 0.3 * rng.random((100, 16, 16))).reshape(100, -1)])
    scores = shift_calibrated_scores(np.vstack([members, others]), generated)
    labels = np.repeat([1, 0], 20)
    assert auc(labels, scores) > 0.95
    with pytest.raises(InputError, match="no square image"):
        shift_calibrated_scores(np.zeros((2, 12)), np.zeros((3, 12)))


def test_aligned_nearest_finds_shifted_rewindowed_copies_the_raw_distance_misses():
    """The generator reproduces each used slice one pixel off and in another intensity window
    (level and width); slices it never saw have unaltered near-twins among its images."""
    rng = np.random.default_rng(0)
    used, not_used = _slices(rng, 30), _slices(rng, 30)
    copies = [
        1.6 * np.roll(x, (1, -1), axis=(0, 1)) + 0.3 + 0.01 * rng.normal(size=x.shape) for x in used
    ]
    twins = [x + 0.35 * gaussian_filter(rng.normal(size=x.shape), 1.5) for x in not_used]
    generated = np.stack([*copies, *twins]).reshape(60, -1)
    query = np.vstack([used, not_used]).reshape(60, -1)
    labels = np.repeat([1, 0], 30)
    raw = auc(labels, -nearest_distances(query, generated))
    window_only = auc(labels, aligned_nearest_scores(query, generated, shift=0))
    aligned = auc(labels, aligned_nearest_scores(query, generated, shift=1))
    assert raw < 0.3 and aligned > 0.95, (raw, window_only, aligned)
    assert window_only < aligned
    with pytest.raises(InputError, match="no square image"):
        aligned_nearest_scores(np.zeros((2, 12)), np.zeros((3, 12)), shift=1)


def test_real_calibration_discounts_a_common_anatomy_without_labels():
    """Half the slices of both classes show one common anatomy (a tight cluster of many
    patients' slices) that the generator draws often; the generator also copies the used
    slices. Near the common anatomy every slice has a generated neighbour, so the raw distance
    calls the not-used ones used; the real images' own spacing there says that is ordinary."""
    rng = np.random.default_rng(1)
    dim, n = 16, 40
    common = rng.normal(size=dim)
    spread = rng.normal(size=(n, dim)) * 2.0
    tight = common + 0.3 * rng.normal(size=(n, dim))
    real = np.vstack([spread, tight])
    used = np.r_[np.arange(0, n, 2), np.arange(n, 2 * n, 2)]
    labels = np.zeros(2 * n, dtype=int)
    labels[used] = 1
    generated = np.vstack(
        [
            real[used] + 0.4 * rng.normal(size=(len(used), dim)),
            common + 0.3 * rng.normal(size=(400, dim)),
        ]
    )
    keys = np.arange(2 * n)
    raw = auc(labels, -nearest_distances(real, generated))
    calibrated = {
        c: auc(labels, real_calibrated_scores(real, generated, real, keys, keys, calibration=c))
        for c in ("difference", "log_ratio")
    }
    assert min(calibrated.values()) > raw + 0.1, (raw, calibrated)
    # the own group is left out: with every image its own key the score never sees itself
    same = real_calibrated_scores(real, generated, real, keys, keys)
    assert np.all(np.isfinite(same))
    with pytest.raises(InputError, match="outside its group"):
        real_calibrated_scores(real, generated, real, np.zeros(2 * n), np.zeros(2 * n))
    with pytest.raises(InputError, match="unknown calibration"):
        real_calibrated_scores(real, generated, real, keys, keys, calibration="ratio")


def _null_world(seed: int) -> tuple[pd.DataFrame, list[str], np.ndarray, pd.Series]:
    """Blocks of 4 near-duplicate slices, half used, half not, half of each class's blocks in
    the test split, and 300 generated images drawn like slices but from neither pool."""
    rng = np.random.default_rng(seed)
    n_blocks, block = 24, 4
    centres = _slices(rng, n_blocks).reshape(n_blocks, -1)
    which = np.repeat(np.arange(n_blocks), block)
    real = centres[which] + 0.02 * rng.normal(size=(len(which), SIDE * SIDE))
    generated = _slices(rng, 300).reshape(300, -1)
    used = rng.permutation(np.r_[np.ones(n_blocks // 2), np.zeros(n_blocks // 2)]).astype(int)
    test = np.zeros(n_blocks, dtype=bool)
    for cls in (0, 1):
        test[rng.permutation(np.flatnonzero(used == cls))[: n_blocks // 4]] = True
    ids = [f"s{i:03d}" for i in range(len(which))]
    gen_ids = [f"g{i:03d}" for i in range(300)]
    manifest = pd.DataFrame(
        {
            "id": ids + gen_ids,
            "role": ["real"] * len(ids) + ["generated"] * 300,
            "split": ["test" if test[b] else "train" for b in which] + ["train"] * 300,
            "label": [str(used[b]) for b in which] + [""] * 300,
        }
    )
    groups = pd.Series([f"b{b:02d}" for b in which], index=ids)
    return manifest, ids + gen_ids, np.vstack([real, generated]), groups


@pytest.fixture(scope="module")
def null_runs():
    """Per attack and seed: the run's test AUC with its grouped interval, and the test AUC of
    each inner setting (each a candidate of the answer)."""
    out: dict[str, list] = {}
    for seed in range(20):
        manifest, ids, features, groups = _null_world(seed)
        truth = manifest.set_index("id")["label"]
        for attack in ("aligned_nearest", "real_calibrated"):
            run, _ = run_attack(
                manifest, ids, features, attack, space="pixels", groups=groups, n_boot=200
            )
            test = run.candidates[run.candidates["split"] == "test"]
            settings = {
                name: auc(truth.loc[rows["id"]].astype(int).to_numpy(), rows["score"].to_numpy())
                for name, rows in test.groupby("candidate")
            }
            out.setdefault(attack, []).append((run.metrics["auc_test"], settings))
    return out


@pytest.mark.parametrize("attack", ["aligned_nearest", "real_calibrated"])
def test_null_generator_keeps_every_setting_at_chance(null_runs, attack):
    """Each seed's test split holds 6 blocks per class, so one AUC is noisy (about 0.15);
    the mean of 20 independent seeds must sit within 3 standard errors of chance."""
    runs = null_runs[attack]
    covered = [low <= 0.5 <= high for (_, low, high), _ in runs]
    assert sum(covered) >= 17, covered
    settings = pd.DataFrame([s for _, s in runs])
    settings["run"] = [value for (value, _, _), _ in runs]
    assert settings.shape == (20, 3)
    standard_error = settings.std() / np.sqrt(len(settings))
    assert (abs(settings.mean() - 0.5) < 3 * standard_error).all(), settings.describe()
    assert (standard_error < 0.05).all(), standard_error

"""Membership attacks: paper method B on error maps, GAN-Leaks, Monte Carlo, DOMIAS, ensemble."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from skimage.metrics import structural_similarity
from sklearn.neighbors import KernelDensity

from medimprint.errors import InputError
from medimprint.membership.attacks import (
    choose_epsilon,
    domias_scores,
    gan_leaks_scores,
    gaussian_log_density,
    monte_carlo_scores,
)
from medimprint.membership.ensemble import choose_ensemble, rank_average
from medimprint.membership.error_maps import mean_mse_scores, ssim_scores
from medimprint.membership.metrics import auc
from medimprint.neighbours import nearest_distances


def _toy(memorised: bool, n: int = 60, d: int = 16, seed: int = 0) -> dict:
    """Used and not-used real features, half training half test; the generated set holds
    near-copies of every used image when ``memorised``, else independent draws."""
    rng = np.random.default_rng(seed)
    used, not_used = rng.normal(size=(2 * n, d)), rng.normal(size=(2 * n, d))
    generated = (
        used + 0.05 * rng.normal(size=used.shape) if memorised else rng.normal(size=used.shape)
    )
    labels = np.repeat([1, 0], n)
    return {
        "train": np.vstack([used[:n], not_used[:n]]),
        "train_ids": [f"tr{i}" for i in range(2 * n)],
        "test": np.vstack([used[n:], not_used[n:]]),
        "test_ids": [f"te{i}" for i in range(2 * n)],
        "labels": labels,
        "generated": generated,
        "reference": not_used[:n],  # the not-used training images
        "reference_ids": [f"tr{i}" for i in range(n, 2 * n)],
    }


def _attack_scores(toy: dict, name: str, split: str) -> np.ndarray:
    x, ids = toy[split], toy[f"{split}_ids"]
    if name == "gan_leaks":
        return gan_leaks_scores(x, toy["generated"], toy["reference"], ids, toy["reference_ids"])
    if name == "domias":
        return domias_scores(x, toy["generated"], toy["reference"], ids, toy["reference_ids"])
    epsilon, _ = choose_epsilon(toy["train"], toy["labels"], toy["generated"])
    return monte_carlo_scores(x, toy["generated"], epsilon)


@pytest.mark.parametrize("name", ["gan_leaks", "monte_carlo", "domias"])
def test_attacks_find_memorised_images_and_nothing_else(name):
    memorised = _toy(memorised=True)
    for split in ("train", "test"):  # training rows exercise the reference leave-one-out
        assert auc(memorised["labels"], _attack_scores(memorised, name, split)) > 0.9
    independent = _toy(memorised=False)
    for split in ("train", "test"):
        assert abs(auc(independent["labels"], _attack_scores(independent, name, split)) - 0.5) < 0.2


@pytest.mark.parametrize("attack", [gan_leaks_scores, domias_scores])
def test_reference_leave_one_out_matters(attack):
    toy = _toy(memorised=False)
    args = (toy["train"], toy["generated"], toy["reference"], toy["train_ids"])
    fair = attack(*args, toy["reference_ids"])
    # Unmatched ids: each not-used training image meets itself in the reference set, which
    # makes it look not used although the generator never saw either class.
    unfair = attack(*args, [f"other{i}" for i in range(len(toy["reference"]))])
    assert abs(auc(toy["labels"], fair) - 0.5) < 0.2
    assert auc(toy["labels"], unfair) > 0.9


def test_gaussian_log_density_matches_kernel_density_and_leaves_self_out():
    rng = np.random.default_rng(2)
    data, query = rng.normal(size=(80, 3)), rng.normal(size=(20, 3))
    expected = KernelDensity(bandwidth=0.7).fit(data).score_samples(query)
    np.testing.assert_allclose(gaussian_log_density(query, data, 0.7), expected)
    ids = list(range(80))
    kept = np.arange(1, 80)
    loo = gaussian_log_density(data[:1], data, 0.2, exclude_same=([0], ids))
    np.testing.assert_allclose(
        loo, KernelDensity(bandwidth=0.2).fit(data[kept]).score_samples(data[:1])
    )


def _error_maps(rng: np.random.Generator, n: int, used: bool, pattern: bool) -> np.ndarray:
    """Toy 16 x 16 error maps: used images have a lower mean error, or (``pattern``) the same
    mean but a stripe pattern."""
    maps = 0.05 * rng.normal(size=(n, 16, 16))
    if not pattern:
        return maps + (0.2 if used else 0.5)
    stripes = np.where(np.arange(16) % 4 < 2, 0.6, 0.2)[None, None, :]
    return maps + (stripes if used else 0.4)


@pytest.mark.parametrize("method", [mean_mse_scores, ssim_scores])
def test_method_b_assigns_the_nearer_class(method):
    rng = np.random.default_rng(3)
    pattern = method is ssim_scores
    train = np.concatenate([_error_maps(rng, 20, u, pattern) for u in (True, False)])
    test = np.concatenate([_error_maps(rng, 20, u, pattern) for u in (True, False)])
    labels = np.repeat([1, 0], 20)
    decisions = method(train, labels, test) > 0
    assert (decisions == labels.astype(bool)).mean() >= 0.95


@pytest.mark.parametrize("method", [mean_mse_scores, ssim_scores])
def test_method_b_training_scores_leave_each_image_out(method):
    """A training image's score is what it would get as a new image against the others."""
    rng = np.random.default_rng(6)
    train = np.concatenate([_error_maps(rng, 5, u, method is ssim_scores) for u in (True, False)])
    labels = np.repeat([1, 0], 5)
    train[0] += 3.0  # an outlier among the used maps: it must not pull the used mean to itself
    loo = method(train, labels)
    for i in (0, 7):
        others = np.delete(np.arange(10), i)
        used, not_used = train[others][labels[others] == 1], train[others][labels[others] == 0]
        if method is mean_mse_scores:
            e, c_used, c_not = train[i].mean(), used.mean(), not_used.mean()
            expected = abs(e - c_not) - abs(e - c_used)
        else:  # the data range is that of the other training maps, as for a new image
            span = train[others].max() - train[others].min()
            expected = structural_similarity(
                train[i], used.mean(axis=0), data_range=span
            ) - structural_similarity(train[i], not_used.mean(axis=0), data_range=span)
        assert loo[i] == pytest.approx(expected)
    in_sample = method(train, labels, train)
    assert in_sample[0] > loo[0]  # in-sample, the outlier looks like its own class


def test_ssim_sees_what_the_mean_error_cannot():
    rng = np.random.default_rng(4)
    train = np.concatenate([_error_maps(rng, 20, u, True) for u in (True, False)])
    test = np.concatenate([_error_maps(rng, 40, u, True) for u in (True, False)])
    labels, truth = np.repeat([1, 0], 20), np.repeat([1, 0], 40)
    assert auc(truth, ssim_scores(train, labels, test)) > 0.95
    assert auc(truth, mean_mse_scores(train, labels, test)) < 0.8


def test_rank_average_of_a_test_row_ignores_other_test_rows():
    rng = np.random.default_rng(5)
    train = {"a": rng.normal(size=30), "b": rng.normal(size=30)}
    test = {"a": rng.normal(size=10), "b": rng.normal(size=10)}
    before = rank_average(test, train)
    changed = {name: np.r_[values[:1], rng.normal(size=9) * 100] for name, values in test.items()}
    assert rank_average(changed, train)[0] == before[0]
    assert ((before >= 0) & (before <= 1)).all()
    # Ranked among themselves the training rows span [0, 1] evenly.
    assert rank_average({"a": train["a"]}).mean() == pytest.approx(0.5)


@pytest.mark.parametrize("n_noise", [1, 6])  # exhaustive, then greedy (7 attacks)
def test_choose_ensemble_picks_the_informative_attack(n_noise):
    assert list(inspect.signature(choose_ensemble).parameters) == [
        "train_scores",
        "labels",
        "folds",
        "seed",
        "groups",
    ]
    rng = np.random.default_rng(6)
    labels = np.repeat([1, 0], 40)
    scores = {"informative": labels + 0.3 * rng.normal(size=80)}
    scores |= {f"noise{i}": rng.normal(size=80) for i in range(n_noise)}
    chosen, table = choose_ensemble(scores, labels)
    assert chosen == ["informative"]
    if n_noise == 1:
        assert sorted(table["members"]) == ["informative", "informative+noise0", "noise0"]


def test_choose_epsilon_returns_a_candidate_quantile():
    toy = _toy(memorised=True)
    quantiles = (0.2, 0.5, 0.8)
    epsilon, search = choose_epsilon(
        toy["train"], toy["labels"], toy["generated"], quantiles=quantiles
    )
    nearest = nearest_distances(toy["train"], toy["generated"])
    assert list(search["quantile"]) == list(quantiles)
    assert np.isclose(np.quantile(nearest, quantiles), epsilon).any()
    assert {"cv_auc_train", "auc_train"} <= set(search.columns)


def test_domias_on_features_without_spread():
    """Constant columns are dropped before whitening; features that do not vary at all are
    refused with the fix, never turned into NaN scores."""
    rng = np.random.default_rng(7)
    generated, reference, query = (rng.normal(size=(n, 4)) for n in (40, 20, 10))
    flat = [np.hstack([x, np.ones((len(x), 3))]) for x in (generated, reference, query)]
    scores = domias_scores(flat[2], flat[0], flat[1], list(range(10)), list(range(100, 120)))
    assert np.isfinite(scores).all()
    same = [np.ones((n, 5)) for n in (40, 20, 10)]
    with pytest.raises(InputError, match="do not vary"):
        domias_scores(same[2], same[0], same[1], list(range(10)), list(range(100, 120)))


def test_domias_scores_a_reference_member_as_an_outsider():
    """A labelled not-used image scored without its group gets exactly the score it would get
    were it in no reference at all: nothing fitted (scaling, PCA) depends on the reference."""
    rng = np.random.default_rng(8)
    generated, reference = rng.normal(size=(60, 30)), rng.normal(size=(12, 30)) + 0.5
    keys = [f"g{i // 2}" for i in range(12)]  # pairs of neighbouring slices
    inside = domias_scores(reference[:2], generated, reference, keys[:2], keys)
    outside = domias_scores(reference[:2], generated, reference[2:], None, keys[2:])
    np.testing.assert_allclose(inside, outside, rtol=1e-10)


def test_patch_leaks_finds_a_block_memorised_alone():
    """A generator that copied one 8 x 8 block of a used slice (and nothing else of it) is
    found by that block's calibrated distance; whole-image GAN-Leaks does not see it."""
    from medimprint.membership.attacks import PATCH_AGGREGATES, image_patches, patch_leaks_scores

    rng = np.random.default_rng(3)
    real = rng.random((20, 256))  # 16 x 16 images
    generated = rng.random((50, 256))
    copied = generated[0].reshape(16, 16)
    copied[8:, :8] = real[0].reshape(16, 16)[8:, :8]  # block 2 of image 0, in place
    generated[0] = copied.ravel()
    reference, ids = real[10:], [f"r{i}" for i in range(20)]
    blocks = patch_leaks_scores(real[:10], generated, reference, ids[:10], ids[10:])
    assert blocks.shape == (10, 4)
    assert np.argmax(blocks[:, 2]) == 0 and blocks[0, 2] > blocks[1:, 2].max()
    assert np.argmax(PATCH_AGGREGATES["max"](blocks)) == 0
    whole = gan_leaks_scores(real[:10], generated, reference, ids[:10], ids[10:])
    assert np.argmax(whole) != 0
    # blocks are laid out row-major: block 2 is rows 8-15, columns 0-7
    assert np.array_equal(image_patches(real[:1], 8)[0, 2], real[0].reshape(16, 16)[8:, :8].ravel())
    with pytest.raises(InputError, match="no square image"):
        image_patches(np.zeros((2, 2048)), 8)


@pytest.mark.parametrize("method", [mean_mse_scores, ssim_scores])
def test_method_b_scores_a_training_map_as_a_new_one(method):
    """With groups, a training map's score equals its score as a query against the training
    maps outside its group: class means and SSIM's data range both leave the group out."""
    rng = np.random.default_rng(9)
    maps = rng.random((12, 8, 8)) * np.linspace(0.5, 2, 12)[:, None, None]
    labels = np.repeat([1, 0, 1, 0], 3)
    groups = np.repeat(["a", "b", "c", "d"], 3)
    inside = method(maps, labels, groups=groups)
    rest = groups != "a"
    outside = method(maps[rest], labels[rest], maps[~rest])
    np.testing.assert_allclose(inside[~rest], outside, rtol=1e-10)

"""Robustness runs and feature sets: perturbations, perturbed stores, combined backbones."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from medimprint.errors import InputError
from medimprint.features.extractors import build_extractor
from medimprint.features.perturbations import parse_perturbation, perturb
from medimprint.features.stores import (
    extract_to_store,
    load_feature_set,
    read_features,
    standardise_blocks,
)
from medimprint.io import read_gray_png, write_store


@pytest.fixture(scope="module")
def ct_slice(luna16: Path) -> np.ndarray:
    return read_gray_png(sorted((luna16 / "slices").glob("*.png"))[300])


@pytest.mark.parametrize(
    ("name", "parsed"),
    [("jpeg90", ("jpeg", 90)), ("jpeg100", ("jpeg", 100)), ("resize50", ("resize", 50))],
)
def test_parse_valid_names(name, parsed):
    assert parse_perturbation(name) == parsed


@pytest.mark.parametrize(
    "name", ["jpeg", "jpeg0", "jpeg101", "jpeg090", "resize5", "resize100", "blur3"]
)
def test_invalid_names_say_the_forms(name):
    with pytest.raises(InputError, match="jpeg<quality"):
        parse_perturbation(name)


@pytest.mark.parametrize("name", ["jpeg90", "resize50"])
def test_perturbation_changes_a_ct_slice_a_little_and_deterministically(ct_slice, name):
    out = perturb(ct_slice, name)
    assert out.shape == ct_slice.shape and out.dtype == np.uint8
    error = np.abs(out.astype(float) - ct_slice)
    assert 0 < error.mean() < 8  # visible to a fingerprint, not to a reader
    np.testing.assert_array_equal(out, perturb(ct_slice, name))


def test_stronger_perturbations_change_more(ct_slice):
    def error(name: str) -> float:
        return float(np.abs(perturb(ct_slice, name).astype(float) - ct_slice).mean())

    assert error("jpeg50") > error("jpeg95")
    assert error("resize25") > error("resize75")


def test_perturbation_removes_high_frequency_noise():
    """Resizing down and up is a low-pass filter: pixel noise mostly disappears."""
    noise = np.random.default_rng(0).integers(100, 156, (64, 64)).astype(np.uint8)
    assert perturb(noise, "resize50").std() < 0.6 * noise.std()


def test_perturbed_store_records_and_applies_the_perturbation(tmp_path, ct_slice):
    from medimprint.io import write_gray_png

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"s{i}.png")
        write_gray_png(paths[-1], np.roll(ct_slice, 5 * i, axis=1))
    manifest = pd.DataFrame({"id": ["a", "b", "c"], "path": paths})
    extractor = build_extractor("dct")
    extract_to_store(manifest, tmp_path / "clean.h5", extractor)
    extract_to_store(manifest, tmp_path / "jpeg.h5", extractor, perturbation="jpeg90")
    with h5py.File(tmp_path / "jpeg.h5") as f:
        assert f.attrs["perturbation"] == "jpeg90"
    _, clean = read_features(tmp_path / "clean.h5")
    _, jpeg = read_features(tmp_path / "jpeg.h5")
    expected = extractor(np.stack([perturb(read_gray_png(p), "jpeg90") for p in paths]))
    np.testing.assert_allclose(jpeg, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(clean, jpeg)
    with pytest.raises(InputError, match="unknown perturbation"):
        extract_to_store(manifest, tmp_path / "bad.h5", extractor, perturbation="gif")
    assert not (tmp_path / "bad.h5").exists()


def store(path: Path, ids: list[str], features: np.ndarray) -> Path:
    write_store(path, ids, {"features": features.astype(np.float32)})
    return path


def test_replacement_rows_overwrite_only_their_ids(tmp_path):
    ids = ["a", "b", "c", "d"]
    base = store(tmp_path / "base.h5", ids, np.arange(8.0).reshape(4, 2))
    sub = store(tmp_path / "sub.h5", ["d", "b"], np.array([[-1.0, -1.0], [-2.0, -2.0]]))
    got_ids, got = load_feature_set([base], [sub])
    assert got_ids == ids
    np.testing.assert_array_equal(got, [[0, 1], [-2, -2], [4, 5], [-1, -1]])
    stray = store(tmp_path / "stray.h5", ["z"], np.zeros((1, 2)))
    with pytest.raises(InputError, match="ids not in"):
        load_feature_set([base], [stray])


def test_combined_backbones_weigh_the_same_whatever_their_dimension(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"i{n}" for n in range(50)]
    small = rng.normal(0, 100, (50, 2))
    large = rng.normal(0, 0.01, (50, 40))
    large[:, 0] = 3.0  # a constant column stays finite (0)
    a = store(tmp_path / "a.h5", ids, small)
    b = store(tmp_path / "b.h5", list(reversed(ids)), large[::-1])
    got_ids, got = load_feature_set([a, b])
    assert got_ids == ids and got.shape == (50, 42)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[:, :2].var(axis=0).sum(), 1.0, rtol=1e-4)
    np.testing.assert_allclose(got[:, 2:].var(axis=0).sum(), 1.0, rtol=1e-4)
    np.testing.assert_allclose(got[:, 2], 0.0, atol=1e-6)
    # a block is scaled as a whole: its columns keep their relative spread
    ratio = got[:, 3:].std(axis=0) / large[:, 1:].std(axis=0)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-3)
    # rows follow ids, not store order
    np.testing.assert_allclose(got[:, 3:], standardise_blocks([small, large])[:, 3:], atol=1e-6)

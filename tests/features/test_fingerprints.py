"""Frequency-domain fingerprints: shapes, invariants, known signals, upsampling, registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from medimprint.clustering import cluster, reduce_features
from medimprint.errors import InputError
from medimprint.evaluation import CLUSTER_METRICS
from medimprint.features.extractors import build_extractor
from medimprint.features.fingerprints import FINGERPRINTS, median3x3
from medimprint.features.registry import BACKBONES

NAMES = list(FINGERPRINTS)


def _noise(shape: tuple[int, ...], seed: int = 0, sd: float = 40.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(128, sd, shape)), 0, 255).astype(np.uint8)


def test_registry_entries_match_the_fingerprints():
    assert NAMES == ["spectrum", "dct", "spectrum_residual", "dct_residual"]
    for name, fingerprint in FINGERPRINTS.items():
        spec = BACKBONES[name]
        assert not spec.needs_torch and spec.input_size == 0
        assert spec.dim == fingerprint.dim == {"spectrum": 32, "dct": 64}[fingerprint.transform]


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_fixed_dim_across_sizes(name):
    ext = build_extractor(name)
    for shape in ((3, 32, 32), (3, 64, 64), (3, 128, 128), (2, 41, 57)):
        feats = ext(_noise(shape))
        assert feats.shape == (shape[0], ext.dim) and feats.dtype == np.float32
        assert np.isfinite(feats).all() and feats.std() > 0
    assert ext(_noise((40, 48))).shape == (1, ext.dim)  # a single H x W image
    assert ext(np.zeros((0, 64, 64), np.uint8)).shape == (0, ext.dim)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_batch_independent(name):
    ext = build_extractor(name)
    images = _noise((4, 64, 64), seed=1)
    feats = ext(images)
    np.testing.assert_array_equal(feats, build_extractor(name)(images.copy()))
    np.testing.assert_allclose(ext(images[2]), feats[2:3], rtol=1e-5, atol=1e-5)
    mixed = ext([images[0], images[1][:48, :40], images[3]])  # a list may mix sizes
    np.testing.assert_allclose(mixed[[0, 2]], feats[[0, 3]], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mixed[1], ext(images[1][:48, :40])[0], rtol=1e-5, atol=1e-5)
    rotated = ext(np.rot90(images, axes=(1, 2)))  # a negative-stride view
    assert rotated.shape == feats.shape and np.isfinite(rotated).all()


@pytest.mark.parametrize("name", NAMES)
def test_constant_images_give_finite_features(name):
    images = np.stack([np.full((32, 32), v, np.uint8) for v in (0, 100, 255)])
    feats = build_extractor(name)(images)
    assert np.isfinite(feats).all()
    # a flat log floor, its mean removed: zero up to float32 rounding of sums of log(EPS) terms
    np.testing.assert_allclose(feats, 0, atol=1e-4)


def test_too_small_images_are_refused():
    with pytest.raises(InputError, match="too small"):
        build_extractor("spectrum")(np.zeros((1, 4, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        FINGERPRINTS["dct"](np.zeros((1, 16, 16), np.float32))


def test_median3x3_matches_scipy():
    images = _noise((5, 23, 31), seed=2)
    np.testing.assert_array_equal(median3x3(images), ndimage.median_filter(images, size=(1, 3, 3)))


def _rings(side: int, radius: int) -> np.ndarray:
    """Cosines at the 12 integer frequency vectors of length ``radius`` (5 or 10) per ``side``."""
    base = {5: (3, 4), 10: (6, 8)}[radius]
    vectors = [(0, radius), (radius, 0), base, base[::-1], (-base[0], base[1]), (-base[1], base[0])]
    yy, xx = np.mgrid[:side, :side]  # radius / 64 cycles/pixel at any side
    return sum(np.cos(2 * np.pi * (ky * yy + kx * xx) / 64) for ky, kx in vectors)


@pytest.mark.parametrize("side", [64, 128])
@pytest.mark.parametrize("radius", [5, 10])
def test_spectrum_peaks_at_the_pattern_frequency(radius, side):
    """Band b is centred on (b + 1) / 64 cycles/pixel: a pattern at radius/64 peaks in band r-1."""
    rng = np.random.default_rng(radius)
    image = 128 + 10 * rng.normal(size=(side, side)) + 15 * _rings(side, radius)
    profile = build_extractor("spectrum")(np.clip(image, 0, 255).astype(np.uint8))[0]
    others = np.delete(profile, radius - 1)
    assert profile.argmax() == radius - 1 and profile[radius - 1] > others.max() + 0.3


def _upsampled_groups(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain noise, and noise at half the side upsampled 2x by nearest neighbour or bilinear."""
    rng = np.random.default_rng(seed)
    half = rng.normal(128, 40, (2, n, side // 2, side // 2))
    groups = (
        rng.normal(128, 40, (n, side, side)),
        half[0].repeat(2, axis=1).repeat(2, axis=2),
        ndimage.zoom(half[1], (1, 2, 2), order=1, grid_mode=True, mode="nearest"),
    )
    images = np.concatenate([np.clip(np.rint(g), 0, 255).astype(np.uint8) for g in groups])
    return images, np.repeat(np.arange(3), n)


@pytest.mark.parametrize("name", NAMES)
def test_upsampling_artifacts_are_separated(name):
    images, truth = _upsampled_groups(20, 64, seed=3)
    feats = reduce_features(build_extractor(name)(images), "none")
    assert CLUSTER_METRICS["ari"](truth, cluster(feats, 3, "kmeans")) > 0.9


@pytest.mark.parametrize("name", NAMES)
def test_build_extractor_ignores_weights_and_describes_parameters(name):
    ext = build_extractor(name, "imagenet", input_size=64, device="cuda")  # none apply
    assert ext.input_size == 0 and ext.device == "cpu" and ext.weights == "none"
    images = _noise((2, 32, 32))
    np.testing.assert_array_equal(ext(images), build_extractor(name, "random")(images))
    info = ext.describe()
    assert all(isinstance(v, str | int) for v in info.values())
    assert info["backbone"] == name and info["dim"] == ext.dim and info["input_size"] == 0
    assert info["residual"] == ("none" if "residual" not in name else "image - median3x3(image)")
    assert "scipy_version" in info and "log" in info
    if name.startswith("spectrum"):
        assert info["n_bins"] == 32
        assert info["window"] == ("none" if "residual" in name else "hann")
    else:
        assert info["block"] == 8


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    images = _noise((3, 32, 40))
    ext = build_extractor("spectrum_residual")
    np.testing.assert_array_equal(ext(torch.from_numpy(images)), ext(images))


def test_fingerprints_do_not_import_torch():
    code = (
        "import sys, numpy as np; from medimprint.features.extractors import build_extractor\n"
        "for n in ('spectrum', 'dct', 'spectrum_residual', 'dct_residual'):\n"
        "    build_extractor(n)(np.zeros((1, 16, 16), np.uint8))\n"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

"""Tests for the procedural CT-like phantom."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from medimprint.benchmark.phantom import phantom_slices
from medimprint.errors import InputError


@pytest.fixture(scope="module")
def phantom() -> tuple[np.ndarray, object]:
    return phantom_slices(4, 12, 64, seed=3)


def test_shape_dtype_and_meta(phantom):
    images, meta = phantom
    assert images.shape == (48, 64, 64)
    assert images.dtype == np.uint8
    assert list(meta.columns) == ["id", "patient", "z"]
    assert meta["id"].is_unique
    assert meta["id"].iloc[13] == "p001_z001"
    assert meta["patient"].iloc[13] == "p001"
    assert meta["z"].dtype.kind == "i"
    assert meta["z"].tolist() == list(range(12)) * 4


def test_deterministic_and_seed_dependent():
    a, meta_a = phantom_slices(2, 3, 32, seed=7)
    b, meta_b = phantom_slices(2, 3, 32, seed=7)
    c, _ = phantom_slices(2, 3, 32, seed=8)
    np.testing.assert_array_equal(a, b)
    assert meta_a.equals(meta_b)
    assert not np.array_equal(a, c)


def test_patients_do_not_depend_on_patient_count():
    few, _ = phantom_slices(2, 3, 32, seed=1)
    more, _ = phantom_slices(3, 3, 32, seed=1)
    np.testing.assert_array_equal(few, more[:6])


@pytest.mark.parametrize("size", [32, 256])
def test_other_sizes(size):
    images, _ = phantom_slices(1, 2, size, seed=0)
    assert images.shape == (2, size, size)


def test_bad_arguments():
    with pytest.raises(InputError, match=r"demo\.patients"):
        phantom_slices(0, 3, 32, seed=0)
    with pytest.raises(InputError, match="image_size"):
        phantom_slices(1, 3, 8, seed=0)


def _body_and_lungs(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    body = ndi.binary_fill_holes(ndi.binary_opening(image > 150, iterations=1))
    labels, n = ndi.label(body)
    sizes = ndi.sum(body, labels, range(1, n + 1))
    body = labels == 1 + int(np.argmax(sizes))  # drop the table
    body = ndi.binary_fill_holes(body)
    lungs = body & ndi.binary_opening(image < 120, iterations=1)
    return body, lungs


def test_anatomy_sanity(phantom):
    images, meta = phantom
    mid = images[(meta["z"] >= 4) & (meta["z"] <= 8)]
    for image in mid:
        body, lungs = _body_and_lungs(image)
        # air outside the body is dark
        assert image[:4, :4].mean() < 75 and image[:4, -4:].mean() < 75
        # mid-chest slices show lungs, clearly darker than the rest of the body
        assert lungs.sum() > 0.15 * body.sum()
        assert image[lungs].mean() < image[body & ~lungs].mean() - 80
        # the brightest region (vertebral body) is posterior, near the midline
        ys, xs = np.nonzero(body)
        smooth = ndi.uniform_filter(image.astype(float), 5)
        smooth[~body] = 0
        y, x = np.unravel_index(np.argmax(smooth), smooth.shape)
        assert y > ys.mean()
        assert abs(x - xs.mean()) < 0.12 * image.shape[1]


def test_neighbouring_slices_are_similar(phantom):
    images, _ = phantom
    vol = images.reshape(4, 12, 64, 64).astype(float)
    neighbours = np.mean((vol[:, 1:] - vol[:, :-1]) ** 2)
    other_patients = np.mean((vol[1:] - vol[:-1]) ** 2)
    assert neighbours < 0.7 * other_patients

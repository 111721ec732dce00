"""Batched extraction into HDF5 feature stores: order, batching, crops, ids and errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from medimprint.errors import InputError
from medimprint.features.extractors import build_extractor
from medimprint.features.stores import (
    extract_features,
    extract_to_store,
    loader_workers,
    read_features,
)
from medimprint.io import read_gray_png, write_gray_png

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cnn():
    """Real (packaged) ImageNet weights: features of a sensible magnitude, offline."""
    return build_extractor("efficientnet_lite0", "imagenet", input_size=64, device="cpu")


@pytest.fixture
def pngs(tmp_path: Path) -> list[Path]:
    """Nine 32x32 images, each with its own texture."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(9):
        image = (rng.random((32, 32)) * 25 * (i + 1)).astype(np.uint8)
        path = tmp_path / "img" / f"im{i}.png"
        write_gray_png(path, image)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def ct_paths(luna16: Path) -> list[Path]:
    return sorted((luna16 / "slices").glob("*.png"))[::90][:8]


def test_rows_follow_input_order_and_batching_does_not_matter(cnn, pngs):
    expected = cnn(np.stack([read_gray_png(p) for p in pngs]))
    one = extract_features(pngs, cnn, batch_size=1)
    seven = extract_features(pngs, cnn, batch_size=7)
    assert seven.shape == (9, 1280) and seven.dtype == np.float32
    np.testing.assert_allclose(one, seven, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(seven, expected, rtol=1e-4, atol=1e-5)


def test_workers_keep_order(pngs):
    lbp = build_extractor("lbp_ms")
    serial = extract_features(pngs, lbp, batch_size=2)
    parallel = extract_features(pngs[::-1], lbp, batch_size=2, num_workers=2)
    np.testing.assert_array_equal(parallel[::-1], serial)


def test_loader_workers_only_feed_a_gpu():
    assert loader_workers(4, "cuda:0") == 3
    assert loader_workers(1, "cuda") == 0
    assert loader_workers(8, "cpu") == 0


def test_crop_is_applied_with_ids(cnn, pngs):
    seen = []

    def corner(image: np.ndarray, id_: str) -> np.ndarray:
        seen.append(id_)
        return image[:20, :24]

    cropped = extract_features(pngs[:3], cnn, batch_size=2, crop=corner)
    np.testing.assert_allclose(
        cropped, cnn(np.stack([read_gray_png(p)[:20, :24] for p in pngs[:3]])), rtol=1e-4, atol=1e-5
    )
    assert seen == ["im0", "im1", "im2"]
    assert not np.allclose(cropped, extract_features(pngs[:3], cnn), rtol=1e-2, atol=0)


def test_crop_must_return_an_image(cnn, pngs):
    with pytest.raises(ValueError, match="uint8 H x W"):
        extract_features(pngs[:1], cnn, crop=lambda image, id_: image.astype(float))


def test_store_round_trip_on_ct(tmp_path, ct_paths):
    lite = build_extractor("efficientnet_lite0", "imagenet", input_size=112, device="cpu")
    manifest = pd.DataFrame({"id": [f"s{i}" for i in range(len(ct_paths))], "path": ct_paths})
    store = tmp_path / "features" / "full" / "efficientnet_lite0.h5"
    extract_to_store(manifest, store, lite, batch_size=3)
    ids, feats = read_features(store)
    assert ids == manifest["id"].tolist() and feats.shape == (8, 1280)
    np.testing.assert_allclose(
        feats, lite(np.stack([read_gray_png(p) for p in ct_paths])), rtol=1e-4, atol=1e-6
    )
    shuffled = list(np.random.default_rng(0).permutation(ids))
    got_ids, got = read_features(store, shuffled)
    assert got_ids == shuffled
    np.testing.assert_array_equal(got, feats[[ids.index(i) for i in shuffled]])
    with h5py.File(store) as f:
        attrs = dict(f.attrs)
    assert attrs["backbone"] == "efficientnet_lite0" and attrs["crop"] == "full"
    assert attrs["n_images"] == 8 and attrs["input_size"] == 112 and attrs["dim"] == 1280


def test_store_with_named_crop(tmp_path, pngs):
    manifest = pd.DataFrame({"id": [p.stem for p in pngs], "path": pngs})
    lbp = build_extractor("lbp")
    with pytest.raises(ValueError, match="without a crop function"):
        extract_to_store(manifest, tmp_path / "x.h5", lbp, crop_name="centre")
    extract_to_store(
        manifest, tmp_path / "c.h5", lbp, crop_name="centre", crop=lambda im, _: im[8:24, 8:24]
    )
    with h5py.File(tmp_path / "c.h5") as f:
        assert f.attrs["crop"] == "centre"
    assert not np.allclose(read_features(tmp_path / "c.h5")[1], lbp([read_gray_png(pngs[0])]))


def test_bad_image_names_the_file(tmp_path, pngs, cnn):
    bad = tmp_path / "img" / "broken.png"
    bad.write_bytes(b"not a png")
    for workers in (0, 1):
        with pytest.raises(InputError, match=r"broken\.png: not a readable PNG") as err:
            extract_features([*pngs[:2], bad], cnn, num_workers=workers)
        assert "Traceback" not in str(err.value)


def test_read_features_errors(tmp_path):
    with pytest.raises(InputError, match="feature store not found"):
        read_features(tmp_path / "none.h5")
    lbp = build_extractor("lbp")
    path = tmp_path / "img" / "a.png"
    write_gray_png(path, np.zeros((8, 8), np.uint8))
    extract_to_store(pd.DataFrame({"id": ["a"], "path": [path]}), tmp_path / "s.h5", lbp)
    with pytest.raises(InputError, match="ids missing"):
        read_features(tmp_path / "s.h5", ["a", "b"])


def test_empty_manifest(tmp_path, cnn):
    extract_to_store(pd.DataFrame({"id": [], "path": []}), tmp_path / "e.h5", cnn)
    ids, feats = read_features(tmp_path / "e.h5")
    assert ids == [] and feats.shape == (0, 1280)

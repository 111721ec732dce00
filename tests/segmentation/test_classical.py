"""Classical lung segmentation, checked against the lung boxes and areas of the LUNA16 manifest
(computed upstream from an independent automatic segmentation) and on a drawn phantom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medimprint.io import read_gray_png
from medimprint.segmentation.classical import bounding_box, box_iou, segment_lungs


def ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y, x = np.ogrid[: shape[0], : shape[1]]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def test_phantom_lungs_are_found_and_outside_air_is_not():
    shape = (128, 128)
    body = ellipse(shape, 64, 64, 50, 60)
    lungs = ellipse(shape, 60, 40, 30, 16) | ellipse(shape, 60, 88, 30, 16)
    image = np.full(shape, 20, dtype=np.uint8)  # air around the body
    image[body] = 200
    image[lungs] = 60
    image[ellipse(shape, 55, 40, 3, 3)] = 200  # a vessel: a hole to fill
    mask = segment_lungs(image)
    assert (mask & lungs).sum() / (mask | lungs).sum() > 0.95
    assert not mask[~body].any()
    assert bounding_box(mask) == bounding_box(lungs)


def test_no_lung_gives_an_empty_mask():
    assert not segment_lungs(np.full((64, 64), 90, dtype=np.uint8)).any()
    body_only = np.zeros((64, 64), dtype=np.uint8)
    body_only[ellipse((64, 64), 32, 32, 25, 25)] = 200
    assert not segment_lungs(body_only).any()
    assert bounding_box(np.zeros((4, 4), dtype=bool)) is None
    with pytest.raises(ValueError, match="uint8 H x W"):
        segment_lungs(np.zeros((8, 8), dtype=np.float32))


def test_box_iou():
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 9)) == 1.0
    assert box_iou((0, 0, 9, 9), (0, 5, 9, 14)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 1, 1), (5, 5, 6, 6)) == 0.0


def test_agrees_with_the_manifests_independent_lung_boxes_and_areas(luna16: Path):
    """Measured on the 732 'ok' slices: median box IoU 0.986 (10th percentile 0.966), lung-area
    correlation 0.995; the thresholds leave room without accepting a poor segmenter."""
    from medimprint.segmentation.quality import agreement, agreement_summary, reference_lungs

    reference = reference_lungs(luna16 / "manifest.csv")
    masks = np.stack([segment_lungs(read_gray_png(path)) for path in reference["path"]])
    summary = agreement_summary(agreement(masks, reference["id"].tolist(), reference))
    assert summary["n"] > 700
    assert summary["median_box_iou"] > 0.95 and summary["p10_box_iou"] > 0.9
    assert summary["area_correlation"] > 0.98


def test_regions_split_a_slice_into_lungs_and_the_rest():
    from medimprint.segmentation.classical import crop_region

    rng = np.random.default_rng(0)
    image = rng.integers(1, 256, (32, 32)).astype(np.uint8)
    mask = np.zeros((32, 32), dtype=bool)
    mask[4:10, 6:20] = True
    mask[12:15, 8:9] = True
    assert crop_region(image, mask, "full") is image
    lung = crop_region(image, mask, "lung")
    # the 11 x 14 lung box, widened to the 16-pixel minimum around its centre
    assert lung.shape == (16, 16) and lung.dtype == np.uint8
    np.testing.assert_array_equal(lung, np.where(mask, image, 0)[1:17, 5:21])
    big = np.zeros((256, 256), dtype=bool)
    big[40:200, 30:220] = True
    assert crop_region(np.full((256, 256), 7, np.uint8), big, "lung").shape == (160, 190)
    outer = crop_region(image, mask, "outer")
    assert (outer[mask] == 0).all() and (outer[~mask] == image[~mask]).all()
    assert not crop_region(image, np.zeros_like(mask), "lung").any()
    with pytest.raises(ValueError, match="unknown region"):
        crop_region(image, mask, "heart")
    with pytest.raises(ValueError, match="mask shape"):
        crop_region(image, mask[:8], "lung")


def test_mask_store_and_region_crop_by_id(tmp_path, luna16: Path):
    import pickle

    from medimprint.errors import InputError
    from medimprint.io import read_store
    from medimprint.segmentation.classical import RegionCrop, crop_region, segment_to_store

    paths = sorted((luna16 / "slices").glob("*.png"))[100:103]
    manifest = pd.DataFrame({"id": ["a", "b", "c"], "path": paths})
    store = tmp_path / "masks.h5"
    segment_to_store(manifest, store)
    ids, arrays, attrs = read_store(store, ["masks"])
    assert ids == ["a", "b", "c"] and arrays["masks"].shape == (3, 256, 256)
    assert attrs["segmenter"] == "classical" and set(np.unique(arrays["masks"])) <= {0, 1}
    image = read_gray_png(paths[1])
    crop = pickle.loads(pickle.dumps(RegionCrop(store, "lung")))  # as sent to loader workers
    expected = crop_region(image, segment_lungs(image), "lung")
    np.testing.assert_array_equal(crop(image, "b"), expected)
    assert expected.shape != image.shape
    with pytest.raises(InputError, match="no lung mask for image 'z'"):
        crop(image, "z")

"""Lung-mask quality checks: reference boxes from a manifest, agreement, Dice and overlays."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medimprint.errors import InputError
from medimprint.segmentation.quality import (
    agreement,
    agreement_summary,
    mask_dice,
    overlay_figure,
    pick_examples,
    reference_lungs,
    store_agreement,
)


def write_manifest(folder: Path, rows: list[dict], size: tuple[int, int] = (20, 16)) -> Path:
    """A manifest of ``rows`` and a blank ``size`` (height, width) PNG for each row's file."""
    for row in rows:
        path = folder / row["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros(size, dtype=np.uint8)).save(path)
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def row(file: str, box: tuple, area: float, quality: str = "ok") -> dict:
    keys = ("lung_bbox_y0", "lung_bbox_x0", "lung_bbox_y1", "lung_bbox_x1")
    return {
        "file": file,
        "slice_quality": quality,
        "lung_area_ratio": area,
        **dict(zip(keys, box, strict=True)),
    }


def test_reference_boxes_are_read_filtered_and_rescaled(tmp_path):
    manifest = write_manifest(
        tmp_path,
        [
            row("slices/a.png", (3, 2, 12, 9), 0.2),
            row("slices/b.png", (0, 1, 19, 15), 0.5),
            row("slices/low.png", (3, 2, 12, 9), 0.1, quality="low"),
            row("slices/empty.png", (3, 2, 12, 9), 0.0),
            row("slices/nobox.png", (math.nan, 2, 12, 9), 0.1),
        ],
    )
    as_is = reference_lungs(manifest)
    assert as_is["id"].tolist() == ["a", "b"]
    assert as_is.loc[0, ["y0", "x0", "y1", "x1"]].tolist() == [3, 2, 12, 9]
    assert as_is["area_ratio"].tolist() == [0.2, 0.5]
    assert as_is.loc[0, "path"] == tmp_path / "slices" / "a.png"
    # 20 x 16 -> 10 x 8: pixel edges halve, so rows 3..12 cover [1.5, 6.5) -> rows 1..6
    half = reference_lungs(manifest, image_size=(10, 8))
    assert half.loc[0, ["y0", "x0", "y1", "x1"]].tolist() == [1, 1, 6, 4]
    assert half.loc[1, ["y0", "x0", "y1", "x1"]].tolist() == [0, 0, 9, 7]
    # a non-uniform scale per axis: 20 x 16 -> 40 x 8
    mixed = reference_lungs(manifest, image_size=(40, 8))
    assert mixed.loc[0, ["y0", "x0", "y1", "x1"]].tolist() == [6, 1, 25, 4]


def test_manifest_errors_name_the_file(tmp_path):
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"file": ["a.png"], "lung_area_ratio": [0.2]}).to_csv(manifest, index=False)
    with pytest.raises(InputError, match=r"manifest\.csv: missing columns .*lung_bbox_y0"):
        reference_lungs(manifest)
    other = tmp_path / "other"
    other.mkdir()
    manifest = write_manifest(other, [row("a.png", (0, 0, 3, 3), 0.2)])
    (other / "a.png").unlink()
    assert len(reference_lungs(manifest)) == 1  # sizes are read only to rescale
    with pytest.raises(InputError, match=r"a\.png: manifest image not found"):
        reference_lungs(manifest, image_size=(8, 8))


def test_agreement_of_perfect_empty_and_shifted_masks():
    masks = np.zeros((4, 10, 10), dtype=np.uint8)
    masks[0, 2:6, 3:8] = 1  # the reference box exactly
    masks[2, 2:6, 5:10] = 1  # shifted right by 2 of 5 columns
    reference = pd.DataFrame(
        {
            "id": ["p", "e", "s", "not-in-masks"],
            "y0": [2, 2, 2, 0],
            "x0": [3, 3, 3, 0],
            "y1": [5, 5, 5, 1],
            "x1": [7, 7, 7, 1],
            "area_ratio": [0.2, 0.2, 0.2, 0.1],
        }
    )
    table = agreement(masks, ["p", "e", "s", "only-masks"], reference)
    assert table["id"].tolist() == ["p", "e", "s"]
    assert table["box_iou"].tolist() == pytest.approx([1.0, 0.0, 12 / 28])
    assert table["area_ratio"].tolist() == pytest.approx([0.2, 0.0, 0.2])
    assert table["reference_area_ratio"].tolist() == [0.2, 0.2, 0.2]
    summary = agreement_summary(table)
    assert summary["n"] == 3 and summary["median_box_iou"] == pytest.approx(12 / 28)
    assert summary["area_ratio"] == pytest.approx(1.0)
    assert math.isnan(summary["area_correlation"])  # reference areas are constant
    with pytest.raises(ValueError, match="beyond the 4x4 masks"):
        agreement(masks[:, :4, :4], ["p", "e", "s", "only-masks"], reference)


def test_summary_of_few_images_has_no_warnings():
    one = pd.DataFrame({"box_iou": [0.5], "area_ratio": [0.1], "reference_area_ratio": [0.2]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = agreement_summary(one)
        empty = agreement_summary(one.iloc[:0])
    assert summary["n"] == 1 and summary["median_box_iou"] == 0.5
    assert summary["area_ratio"] == 0.5 and math.isnan(summary["area_correlation"])
    assert empty["n"] == 0 and math.isnan(empty["median_box_iou"])
    two = pd.DataFrame(
        {"box_iou": [1, 0], "area_ratio": [0.1, 0.3], "reference_area_ratio": [1, 2]}
    )
    assert agreement_summary(two)["area_correlation"] == pytest.approx(1.0)


def test_mask_dice():
    a = np.zeros((3, 4, 4), dtype=bool)
    b = np.zeros((3, 4, 4), dtype=bool)
    a[0, :2] = b[0, :2] = True  # identical
    a[1, :2] = True  # 8 pixels
    b[1, 1:2] = True  # 4 of them
    np.testing.assert_allclose(mask_dice(a, b), [1.0, 2 * 4 / 12, 1.0])  # third: both empty
    assert mask_dice(a[1:2], ~a[1:2])[0] == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        mask_dice(a, b[:2])


def test_pick_examples_spreads_over_the_stack():
    assert pick_examples(100, 4).tolist() == [12, 37, 62, 87]
    assert pick_examples(3, 5).tolist() == [0, 1, 2]


def test_overlay_figure_has_one_image_panel_per_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 16, 16)).astype(np.uint8)
    masks = np.zeros((5, 16, 16), dtype=bool)
    masks[:, 4:10, 3:12] = True
    masks[1] = False  # empty: nothing to draw
    masks[2] = True  # full: fill only, no contour
    fig = overlay_figure(images, masks, list("abcde"), columns=3, title="t")
    axes = fig.get_axes()
    assert len(axes) == 6
    shown = [ax for ax in axes if ax.images]
    assert [ax.get_title() for ax in shown] == list("abcde")
    assert len(shown[0].images) == 2 and len(shown[1].images) == 1  # fill drawn only if any
    assert len(shown[0].collections) == 1 and not shown[2].collections  # one contour
    two = overlay_figure(images, masks, list("abcde"), reference_masks=~masks)
    assert len(two.get_axes()) == 5 and len(two.get_axes()[0].collections) == 2
    assert [t.get_text() for t in two.legends[0].get_texts()] == ["mask", "reference"]
    with pytest.raises(ValueError, match="masks of its shape"):
        overlay_figure(images, masks[:4], list("abcd"))


def test_classical_masks_at_128_agree_with_rescaled_luna16_boxes(tmp_path, luna16: Path):
    """Measured on the 732 'ok' slices resized 256 -> 128 (Lanczos, as datasets are built): median
    box IoU 0.979 (10th percentile 0.954), area correlation 0.990, median area ratio 1.007."""
    from medimprint.io import read_gray_png, write_store
    from medimprint.segmentation.classical import segment_lungs

    reference = reference_lungs(luna16 / "manifest.csv", image_size=(128, 128))
    assert len(reference) > 700 and reference["y1"].max() <= 127
    masks = np.stack(
        [
            segment_lungs(
                np.asarray(Image.fromarray(read_gray_png(p)).resize((128, 128), Image.LANCZOS))
            )
            for p in reference["path"]
        ]
    )
    store = tmp_path / "masks.h5"
    write_store(store, reference["id"].tolist(), {"masks": masks.astype(np.uint8)}, {})
    summary = agreement_summary(store_agreement(store, luna16 / "manifest.csv"))
    assert summary["n"] == len(reference)
    assert summary["median_box_iou"] > 0.9 and summary["p10_box_iou"] > 0.85
    assert summary["area_correlation"] > 0.97 and 0.9 < summary["area_ratio"] < 1.1

"""Classical lung segmentation of 8-bit axial CT slices, needing no weights.

The body is the largest bright region (above an Otsu threshold) with its holes filled; the
lungs are its dark pixels (at or below a second Otsu threshold computed inside the body, so the
air around the patient does not bias it), minus any air touching the image border, keeping the
two largest components (a single one when the second is tiny), with holes filled (vessels,
nodules) and a morphological closing that smooths the pleural border. It is the reference the
lung UNet is trained on when no expert masks exist, and it works for any CT window that renders
lung darker than soft tissue.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import h5py
import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import disk
from skimage.segmentation import clear_border

from medimprint.errors import InputError
from medimprint.io import read_gray_png, read_store, stream_store
from medimprint.names import CROPS

#: Smallest lung component kept, as a fraction of the image area.
MIN_LUNG_FRACTION = 0.002
#: A second component is kept only if at least this fraction of the largest one.
SECOND_LUNG_RATIO = 0.1


def segment_lungs(image: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Boolean lung mask (``H x W``) of a uint8 CT slice; all False when no lung is visible.

    ``threshold`` (grey level) replaces the Otsu threshold inside the body when given.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(
            f"segment_lungs needs a uint8 H x W image, got {image.dtype} {image.shape}"
        )
    if image.min() == image.max():
        return np.zeros(image.shape, dtype=bool)
    body = _largest(ndimage.binary_fill_holes(image > threshold_otsu(image)))
    if not body.any() or image[body].min() == image[body].max():
        return np.zeros(image.shape, dtype=bool)
    level = threshold_otsu(image[body]) if threshold is None else threshold
    air = clear_border((image <= level) & body)
    labels, n = ndimage.label(air)
    if n == 0:
        return np.zeros(image.shape, dtype=bool)
    areas = np.bincount(labels.ravel())[1:]
    order = np.argsort(areas)[::-1]
    keep = [order[0]]
    if n > 1 and areas[order[1]] >= SECOND_LUNG_RATIO * areas[order[0]]:
        keep.append(order[1])
    keep = [i for i in keep if areas[i] >= MIN_LUNG_FRACTION * image.size]
    mask = np.isin(labels, np.asarray(keep) + 1)
    radius = max(1, round(min(image.shape) / 64))
    mask = ndimage.binary_closing(mask, structure=disk(radius), border_value=0)
    return ndimage.binary_fill_holes(mask)


def _largest(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    return labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, x0, y1, x1)`` of the True pixels (inclusive), or None for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two inclusive ``(y0, x0, y1, x1)`` boxes."""
    height = min(a[2], b[2]) - max(a[0], b[0]) + 1
    width = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(0, height) * max(0, width)

    def area(box: tuple[int, int, int, int]) -> int:
        return (box[2] - box[0] + 1) * (box[3] - box[1] + 1)

    return inter / (area(a) + area(b) - inter)


def crop_region(image: np.ndarray, mask: np.ndarray, region: str) -> np.ndarray:
    """The ``region`` of a slice given its lung ``mask``, as in the paper.

    ``full``: the slice; ``lung``: cropped to the lung bounding box (widened to at least a quarter
    of the side) with non-lung pixels set to 0 (the whole slice, zeroed, when no lung is
    visible); ``outer``: the slice with lung pixels 0.
    """
    if region not in CROPS:
        raise ValueError(f"unknown region {region!r}; use one of {list(CROPS)}")
    if mask.shape != image.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape}")
    if region == "full":
        return image
    if region == "outer":
        return np.where(mask, 0, image).astype(np.uint8)
    box = bounding_box(mask)
    if box is None:
        return np.zeros_like(image)
    y0, y1 = _widen(box[0], box[2], image.shape[0])
    x0, x1 = _widen(box[1], box[3], image.shape[1])
    return np.where(mask, image, 0)[y0:y1, x0:x1].astype(np.uint8)


def _widen(low: int, high: int, size: int) -> tuple[int, int]:
    """Half-open range covering ``low..high`` (inclusive), widened around its centre to at
    least a quarter of ``size`` (and 16 pixels) so feature extractors get a usable input."""
    side = min(size, max(high - low + 1, size // 4, 16))
    start = min(max(0, (low + high + 1) // 2 - side // 2), size - side)
    start = min(start, low)
    return start, max(start + side, high + 1)


def segment_to_store(manifest: pd.DataFrame, out_path: str | os.PathLike) -> None:
    """Segment every manifest image (``id``, ``path``) into an HDF5 store of ``masks`` (uint8
    0/1, ``N x H x W``), one image at a time and atomically; images must share one size."""
    masks = (segment_lungs(read_gray_png(path)).astype(np.uint8) for path in manifest["path"])
    write_masks(out_path, manifest["id"].astype(str).tolist(), masks, "classical")


def write_masks(
    out_path: str | os.PathLike, ids: list[str], masks: Iterable[np.ndarray], segmenter: str
) -> None:
    """Stream one dataset's masks (one per id, in order) into a mask store."""
    try:
        stream_store(out_path, ids, "masks", masks, {"segmenter": segmenter})
    except ValueError as err:
        raise InputError(
            f"{err}; the images of one dataset must share one size to store their masks"
        ) from None


class RegionCrop:
    """``crop(image, id)`` for `features.stores.extract_to_store`: the ``region`` of an image,
    with its lung mask read by id from a mask store (opened lazily, so it can go to loader
    workers)."""

    def __init__(self, masks_path: str | os.PathLike, region: str) -> None:
        if region not in CROPS:
            raise ValueError(f"unknown region {region!r}; use one of {list(CROPS)}")
        self.masks_path, self.region = str(masks_path), region
        ids, _, _ = read_store(masks_path, [])
        self.rows = {image_id: row for row, image_id in enumerate(ids)}
        self._file: h5py.File | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None}

    def __call__(self, image: np.ndarray, image_id: str) -> np.ndarray:
        if image_id not in self.rows:
            raise InputError(
                f"{self.masks_path}: no lung mask for image {image_id!r}; delete the mask store "
                "so the workflow rebuilds it from the current manifest"
            )
        if self._file is None:
            self._file = h5py.File(self.masks_path, "r")
        mask = self._file["masks"][self.rows[image_id]].astype(bool)
        return crop_region(image, mask, self.region)

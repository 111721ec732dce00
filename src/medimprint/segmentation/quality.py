"""Quality checks of lung masks: agreement with the lung boxes and areas of a manifest (such as
the LUNA16 one, computed upstream from an independent segmentation), Dice between two mask
stacks (e.g. classical vs UNet) and overlay figures for looking at them (matplotlib, no display
needed)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image, UnidentifiedImageError

from medimprint.benchmark.slices import BOX_COLUMNS, REFERENCE_COLUMNS
from medimprint.data.manifest import load_images
from medimprint.errors import InputError
from medimprint.io import read_store
from medimprint.segmentation.classical import bounding_box, box_iou

#: Colours of the mask and of the optional second (reference) mask in overlay figures.
MASK_COLOUR, REFERENCE_COLOUR = "#ff7f0e", "#17becf"


def reference_lungs(
    manifest_csv: str | os.PathLike, image_size: tuple[int, int] | None = None
) -> pd.DataFrame:
    """Reference lungs of a manifest: one row per slice with a non-empty lung box and
    ``slice_quality`` other than ``low`` (when that column exists).

    Columns ``id`` (file stem), ``path`` (the source image), ``y0, x0, y1, x1`` (inclusive box)
    and ``area_ratio``. With ``image_size`` (height, width), boxes are rescaled from each source
    image's size (read from its header) so that pixel edges scale: ``y0 -> floor(y0 * s)``,
    ``y1 -> ceil((y1 + 1) * s) - 1``.
    """
    manifest_csv = Path(manifest_csv)
    try:
        table = pd.read_csv(manifest_csv)
    except FileNotFoundError:
        raise InputError(f"{manifest_csv}: manifest not found; check the path") from None
    missing = [c for c in REFERENCE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"{manifest_csv}: missing columns {missing}; reference lungs need the columns "
            f"{list(REFERENCE_COLUMNS)}"
        )
    if "slice_quality" in table.columns:
        table = table[table["slice_quality"].astype(str).str.strip() != "low"]
    boxes = table[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    area = pd.to_numeric(table["lung_area_ratio"], errors="coerce")
    keep = boxes.notna().all(axis=1) & area.notna() & (area > 0)
    table, boxes, area = table[keep], boxes[keep].astype(int), area[keep]
    paths = [manifest_csv.parent / str(file) for file in table["file"]]
    out = pd.DataFrame(
        {
            "id": [path.stem for path in paths],
            "path": paths,
            **{c[len("lung_bbox_") :]: boxes[c].to_numpy() for c in BOX_COLUMNS},
            "area_ratio": area.to_numpy(dtype=float),
        }
    )
    duplicated = out["id"][out["id"].duplicated()].tolist()
    if duplicated:
        raise InputError(
            f"{manifest_csv}: file stems are image ids and must be unique, but "
            f"{duplicated[:3]} occur more than once; rename the files"
        )
    if image_size is not None and len(out):
        height, width = image_size
        sizes = np.array([_image_size(path) for path in out["path"]])  # (height, width) rows
        for low, high, new, old in (
            ("y0", "y1", height, sizes[:, 0]),
            ("x0", "x1", width, sizes[:, 1]),
        ):
            out[low] = np.clip(out[low].to_numpy() * new // old, 0, new - 1)
            out[high] = np.clip(-(-(out[high].to_numpy() + 1) * new // old) - 1, 0, new - 1)
    return out


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image, from its header."""
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except FileNotFoundError:
        raise InputError(f"{path}: manifest image not found; check the manifest") from None
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"{path}: not a readable image ({err})") from None


def agreement(masks: np.ndarray, ids: Sequence[str], reference: pd.DataFrame) -> pd.DataFrame:
    """Per image in both ``masks`` (``N x H x W``, rows named by ``ids``) and ``reference`` (from
    `reference_lungs`, at the masks' size): ``id``, ``box_iou`` (0 for an empty mask),
    ``area_ratio`` (of the mask) and ``reference_area_ratio``; in the order of ``ids``."""
    masks = np.asarray(masks)
    if masks.ndim != 3 or len(masks) != len(ids):
        raise ValueError(f"need an N x H x W mask stack and N ids, got {masks.shape}, {len(ids)}")
    rows = {image_id: row for row, image_id in enumerate(ids)}
    ref = reference[reference["id"].isin(rows)]
    height, width = masks.shape[1:]
    if len(ref) and (ref["y1"].max() >= height or ref["x1"].max() >= width):
        raise ValueError(
            f"reference boxes reach beyond the {height}x{width} masks; pass the masks' size as "
            "image_size to reference_lungs"
        )
    ref = ref.set_index("id")
    out = []
    for image_id in (i for i in ids if i in ref.index):
        mask = masks[rows[image_id]].astype(bool)
        box = bounding_box(mask)
        r = ref.loc[image_id]
        reference_box = (int(r["y0"]), int(r["x0"]), int(r["y1"]), int(r["x1"]))
        out.append(
            {
                "id": image_id,
                "box_iou": 0.0 if box is None else box_iou(box, reference_box),
                "area_ratio": float(mask.mean()),
                "reference_area_ratio": float(r["area_ratio"]),
            }
        )
    columns = ["id", "box_iou", "area_ratio", "reference_area_ratio"]
    return pd.DataFrame(out, columns=columns)


def store_agreement(
    masks_store: str | os.PathLike, manifest_csv: str | os.PathLike
) -> pd.DataFrame:
    """`agreement` of the masks in an HDF5 mask store with a manifest's reference lungs, rescaled
    to the masks' size."""
    ids, arrays, _ = read_store(masks_store, ["masks"])
    masks = arrays["masks"]
    return agreement(masks, ids, reference_lungs(manifest_csv, tuple(masks.shape[1:])))


def agreement_summary(table: pd.DataFrame) -> dict[str, float]:
    """``n``, ``median_box_iou``, ``p10_box_iou``, ``area_correlation`` (Pearson; NaN for fewer
    than two images or constant areas) and ``area_ratio`` (median of mask / reference area)."""
    n = len(table)
    iou = table["box_iou"].to_numpy(dtype=float)
    area = table["area_ratio"].to_numpy(dtype=float)
    ref = table["reference_area_ratio"].to_numpy(dtype=float)
    correlation = math.nan
    if n >= 2 and np.ptp(area) > 0 and np.ptp(ref) > 0:
        correlation = float(np.corrcoef(area, ref)[0, 1])
    return {
        "n": n,
        "median_box_iou": float(np.median(iou)) if n else math.nan,
        "p10_box_iou": float(np.percentile(iou, 10)) if n else math.nan,
        "area_correlation": correlation,
        "area_ratio": float(np.median(area / ref)) if n else math.nan,
    }


def mask_dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice of each pair of masks in two ``N x H x W`` stacks (1.0 where both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mask stacks differ in shape: {a.shape} vs {b.shape}")
    inter = (a & b).sum(axis=(-2, -1))
    total = a.sum(axis=(-2, -1)) + b.sum(axis=(-2, -1))
    return np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)


def pick_examples(n_images: int, n: int) -> np.ndarray:
    """Positions of ``n`` images evenly spread over ``n_images`` (the centres of ``n`` equal
    bins, so a CT stack's sparse end slices are avoided); all of them when ``n >= n_images``."""
    if n >= n_images:
        return np.arange(n_images)
    return ((np.arange(n) + 0.5) * n_images / n).astype(int)


def overlay_figure(
    images: np.ndarray,
    masks: np.ndarray,
    ids: Sequence[str],
    *,
    columns: int = 6,
    title: str = "",
    reference_masks: np.ndarray | None = None,
    labels: tuple[str, str] = ("mask", "reference"),
) -> Figure:
    """Grey ``images`` with each mask's contour and a translucent fill, one panel per image titled
    by its id; ``reference_masks`` (same shape) are drawn too, in a second colour, and a legend
    names the two by ``labels``."""
    images, masks = np.asarray(images), np.asarray(masks, dtype=bool)
    stacks = [(masks, MASK_COLOUR)]
    if reference_masks is not None:
        stacks.append((np.asarray(reference_masks, dtype=bool), REFERENCE_COLOUR))
    if len(images) == 0 or any(s.shape != images.shape for s, _ in stacks):
        raise ValueError(
            f"need a non-empty N x H x W image stack and masks of its shape, got {images.shape} "
            f"and {[s.shape for s, _ in stacks]}"
        )
    if len(ids) != len(images):
        raise ValueError(f"{len(ids)} ids for {len(images)} images")
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    fig = Figure(figsize=(1.8 * columns, 1.9 * rows + (0.4 if title else 0)))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for i, (ax, image_id) in enumerate(zip(axes, ids, strict=False)):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for stack, colour in stacks:
            _draw_mask(ax, stack[i], colour)
        ax.set_title(str(image_id), fontsize=7)
    if reference_masks is not None:
        handles = [
            Line2D([], [], color=c, label=label)
            for (_, c), label in zip(stacks, labels, strict=False)
        ]
        fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _draw_mask(ax: Axes, mask: np.ndarray, colour: str) -> None:
    if not mask.any():
        return
    rgba = np.zeros((*mask.shape, 4))
    rgba[mask] = (*to_rgb(colour), 0.25)
    ax.imshow(rgba, interpolation="nearest")
    if not mask.all():  # a contour needs both levels
        ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=0.8)


def segmentation_report(
    manifest: pd.DataFrame,
    masks_store: str | os.PathLike,
    *,
    reference_manifest: str | os.PathLike | None = None,
    classical_store: str | os.PathLike | None = None,
    examples: int = 12,
) -> tuple[pd.DataFrame, Figure]:
    """A dataset's mask quality for the report: one summary row (segmenter, agreement with the
    reference lungs of ``reference_manifest`` when given, median Dice with the classical masks
    when ``classical_store`` is given) and an overlay figure of evenly spread real images."""
    ids, arrays, attrs = read_store(masks_store, ["masks"])
    masks = arrays["masks"]
    row: dict[str, object] = {"segmenter": str(attrs.get("segmenter", "")), "images": len(ids)}
    row["lung_found"] = float(masks.reshape(len(masks), -1).any(axis=1).mean()) if ids else 0.0
    if reference_manifest is not None:
        size = (masks.shape[1], masks.shape[2])
        table = agreement(masks, ids, reference_lungs(reference_manifest, size))
        row.update({f"reference_{k}": v for k, v in agreement_summary(table).items()})
    classical = None
    if classical_store is not None:
        _, other, _ = read_store(classical_store, ["masks"], ids)
        classical = other["masks"]
        row["median_dice_vs_classical"] = float(np.median(mask_dice(masks, classical)))
    real = manifest.loc[manifest["role"] == "real"].sort_values("id")
    chosen = real.iloc[pick_examples(len(real), examples)]
    rows = [ids.index(i) for i in chosen["id"]]
    figure = overlay_figure(
        load_images(chosen["path"].tolist()),
        masks[rows],
        chosen["id"].tolist(),
        reference_masks=None if classical is None else classical[rows],
        labels=(row["segmenter"], "classical"),
    )
    return pd.DataFrame([row]), figure

"""Batched, streaming feature extraction from PNG files into HDF5 feature stores.

Images are read in batches by a torch ``DataLoader`` (optionally with worker processes), so
memory grows with the batch size, not with the number of images. A store holds ``ids`` and a
float32 ``features`` matrix (rows aligned with ids) plus attributes saying how it was made
(`FeatureExtractor.describe`, ``crop``, ``n_images``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from medimprint.errors import InputError
from medimprint.features.perturbations import parse_perturbation, perturb
from medimprint.io import read_gray_png, read_store, row_positions, write_store
from medimprint.runtime.progress import Progress

if TYPE_CHECKING:
    from medimprint.features.extractors import FeatureExtractor

#: ``crop(image, id) -> image``: uint8 ``H x W`` in, uint8 ``h x w`` out.
Crop = Callable[[np.ndarray, str], np.ndarray]


class _PngDataset:
    """Map-style dataset of gray PNGs; a bad file yields its `InputError` instead of raising.

    Returning the error (rather than raising inside a worker process) lets the main process
    re-raise it with its own clean message instead of DataLoader's wrapped traceback.
    """

    def __init__(self, paths: Sequence[str], ids: Sequence[str], crop: Crop | None):
        self.paths, self.ids, self.crop = paths, ids, crop

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray | InputError:
        try:
            image = read_gray_png(self.paths[index])
        except InputError as err:
            return err
        if self.crop is not None:
            image = self.crop(image, self.ids[index])
            if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8:
                raise ValueError(f"crop of {self.ids[index]!r} did not return a uint8 H x W array")
            image = np.ascontiguousarray(image)
        return image


def _collate(items: list[np.ndarray | InputError]) -> object:
    """Stack equal-sized images into a uint8 tensor (pinnable); keep mixed sizes as a list."""
    import torch

    for item in items:
        if isinstance(item, InputError):
            return item
    if len({item.shape for item in items}) == 1:
        return torch.from_numpy(np.stack(items))
    return items


def loader_workers(threads: int, device: str) -> int:
    """PNG-reading worker processes for a job with ``threads`` CPUs: on CUDA all but one (the
    main process feeds the GPU); on the CPU none, since workers would take cores from the
    model's own threads."""
    return max(0, int(threads) - 1) if device.startswith("cuda") else 0


def extract_features(
    paths: Sequence[str | os.PathLike],
    extractor: FeatureExtractor,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    crop: Crop | None = None,
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Features (float32 ``N x dim``, input order) of the PNGs at ``paths``.

    ``crop(image, id)`` is applied to each image after reading; ``ids`` default to the file
    stems. Unreadable images raise `InputError` naming the file.
    """
    from torch.utils.data import DataLoader

    paths = [str(p) for p in paths]
    ids = [Path(p).stem for p in paths] if ids is None else [str(i) for i in ids]
    if len(ids) != len(paths):
        raise ValueError(f"{len(ids)} ids for {len(paths)} paths")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    out = np.zeros((len(paths), extractor.dim), dtype=np.float32)
    if not paths:
        return out
    loader = DataLoader(
        _PngDataset(paths, ids, crop),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=extractor.device.startswith("cuda"),
    )
    row, progress = 0, Progress(len(paths), "images")
    for batch in loader:
        if isinstance(batch, InputError):
            raise batch
        feats = extractor(batch)
        out[row : row + len(feats)] = feats
        row += len(feats)
        progress.step(len(feats))
    if row != len(paths):
        raise RuntimeError(f"extracted {row} rows for {len(paths)} images")
    return out


def extract_to_store(
    manifest: pd.DataFrame,
    out_path: str | os.PathLike,
    extractor: FeatureExtractor,
    *,
    crop_name: str = "full",
    crop: Crop | None = None,
    perturbation: str | None = None,
    batch_size: int = 32,
    num_workers: int = 0,
) -> None:
    """Extract features for every manifest row (``id``, ``path``) into an HDF5 store, atomically.

    ``crop`` is called as ``crop(image, id)``; ``crop_name`` labels it in the store's attrs
    (a name other than ``full`` needs a ``crop``). A ``perturbation`` (see `perturbations`) is
    applied to each image before the crop.
    """
    missing = {"id", "path"} - set(manifest.columns)
    if missing:
        raise InputError(f"manifest lacks column(s) {sorted(missing)}; rebuild the manifest")
    if crop_name != "full" and crop is None:
        raise ValueError(f"crop_name {crop_name!r} given without a crop function")
    ids = manifest["id"].astype(str).tolist()
    if perturbation is not None:
        parse_perturbation(perturbation)
        crop = _after_perturbation(perturbation, crop)
    feats = extract_features(
        manifest["path"].tolist(),
        extractor,
        batch_size=batch_size,
        num_workers=num_workers,
        crop=crop,
        ids=ids,
    )
    attrs = {**extractor.describe(), "crop": crop_name, "n_images": len(ids)}
    attrs["perturbation"] = perturbation or "none"
    write_store(out_path, ids, {"features": feats}, attrs)


def _after_perturbation(name: str, crop: Crop | None) -> Crop:
    def perturbed(image: np.ndarray, image_id: str) -> np.ndarray:
        image = perturb(image, name)
        return image if crop is None else crop(image, image_id)

    return perturbed


def read_features(
    path: str | os.PathLike, ids: list[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Read ``(ids, features)`` from a store; with ``ids``, rows come in that order (checked)."""
    if not Path(path).is_file():
        raise InputError(f"{path}: feature store not found; run the feature extraction step first")
    try:
        stored, arrays, _ = read_store(path, ["features"], ids)
    except (KeyError, OSError) as err:
        raise InputError(
            f"{path}: not a readable feature store ({err}); delete it so the workflow rebuilds it"
        ) from None
    return stored, arrays["features"]


def load_feature_set(
    stores: Sequence[str | os.PathLike],
    replacements: Sequence[str | os.PathLike] = (),
) -> tuple[list[str], np.ndarray]:
    """Features of one or several backbones' stores, rows aligned by id, as ``(ids, matrix)``.

    ``replacements[i]`` (optional) is a store holding other features for some of the ids of
    ``stores[i]`` (e.g. the test images after a perturbation): its rows replace theirs. One
    store is returned as is; several are concatenated after `standardise_blocks`, so that each
    backbone weighs the same whatever its dimension.
    """
    if not stores:
        raise ValueError("load_feature_set needs at least one store")
    if replacements and len(replacements) != len(stores):
        raise ValueError(f"{len(replacements)} replacement stores for {len(stores)} stores")
    ids: list[str] | None = None
    blocks = []
    for i, store in enumerate(stores):
        store_ids, feats = read_features(store, ids)
        ids = store_ids
        if replacements:
            sub_ids, sub_feats = read_features(replacements[i])
            rows, unknown = row_positions(ids, sub_ids)
            if unknown:
                raise InputError(
                    f"{replacements[i]}: ids not in {store}: {unknown[:5]}; delete both stores "
                    "so the workflow rebuilds them from the same manifest"
                )
            feats = feats.copy()
            feats[rows] = sub_feats
        blocks.append(feats)
    assert ids is not None
    return ids, blocks[0] if len(blocks) == 1 else standardise_blocks(blocks)


def standardise_blocks(blocks: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate feature blocks (same rows), each centred and divided by the square root of
    its total variance, so every block weighs the same whatever its dimension and scale while
    keeping its own geometry (a constant block becomes 0).

    Note: the attribution reducers then z-score every column (``none``, ``pca*``) or are
    invariant to linear rescaling (``lda``, ``whiten``), so in the grid every column, not every
    block, ends up with the same weight: the larger embedding dominates a combination.
    """
    scaled = []
    for block in blocks:
        block = np.asarray(block, dtype=np.float64)
        centred = block - block.mean(axis=0)
        total = np.sqrt(centred.var(axis=0).sum())
        scaled.append(centred / total if total > 0 else centred)
    return np.hstack(scaled).astype(np.float32)

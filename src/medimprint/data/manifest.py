"""The manifest: one row per image of a dataset (id, path, role, split, label), and the readers of
its images. Every stage after ingest reads a dataset through this API (see docs/CONTRACTS.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from medimprint.errors import InputError
from medimprint.io import read_gray_png, read_table, thread_map, write_table

#: Manifest columns, in order.
COLUMNS = ("id", "path", "role", "split", "label")
#: Separates the role from the file name in a role-qualified id (``real_used/image_0001``).
ROLE_SEPARATOR = "/"


def file_name(image_id: str) -> str:
    """The name (file stem) of the image with id ``image_id``: what submissions and label files
    call it. Ids are the stems, or ``role/stem`` where a dataset's role folders repeat a name."""
    return str(image_id).rsplit(ROLE_SEPARATOR, 1)[-1]


def write_manifest(manifest: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest as TSV, atomically."""
    if not str(path).endswith(".tsv"):
        raise ValueError(f"{path}: a manifest is a TSV file; name it *.tsv")
    missing = [c for c in COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"manifest lacks columns {missing}")
    write_table(path, manifest.loc[:, list(COLUMNS)])


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest written by `write_manifest`; check its columns and ids."""
    try:
        table = read_table(path)
    except FileNotFoundError:
        raise InputError(f"{path}: manifest not found; run the workflow's ingest step") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(
            f"{path}: not a readable manifest ({err}); delete it so the workflow rebuilds it"
        ) from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"{path}: manifest lacks column(s) {missing}; delete it so the workflow rebuilds it"
        )
    duplicated = table["id"][table["id"].duplicated()].unique().tolist()
    if duplicated:
        raise InputError(
            f"{path}: duplicate ids {duplicated[:3]} in manifest; delete it so the workflow "
            "rebuilds it"
        )
    return table.loc[:, list(COLUMNS)]


def load_images(paths: Sequence[str | os.PathLike], *, workers: int | None = None) -> np.ndarray:
    """Read images as one uint8 ``N x H x W`` array (in order); all must share one size."""
    paths = [str(p) for p in paths]
    if not paths:
        return np.empty((0, 0, 0), dtype=np.uint8)
    first = read_gray_png(paths[0])
    out = np.empty((len(paths), *first.shape), dtype=np.uint8)
    out[0] = first

    def fill(index: int) -> None:
        image = read_gray_png(paths[index])
        if image.shape != first.shape:
            raise InputError(
                f"{paths[index]}: {size_text(image.shape)} pixels, but {paths[0]} is "
                f"{size_text(first.shape)}; all images of a dataset must have one size"
            )
        out[index] = image

    thread_map(fill, range(1, len(paths)), workers)
    return out


def image_chunks(paths: Sequence[str | os.PathLike], chunk: int = 256) -> Iterator[np.ndarray]:
    """`load_images` of ``chunk`` paths at a time, in order: stacks too large to hold are
    processed with bounded memory."""
    for start in range(0, len(paths), chunk):
        yield load_images(paths[start : start + chunk])


def image_size(manifest: pd.DataFrame) -> tuple[int, int]:
    """Return ``(height, width)`` of the manifest's first image."""
    if len(manifest) == 0:
        raise InputError("manifest has no images; check the dataset's globs in config")
    height, width = read_gray_png(manifest["path"].iloc[0]).shape
    return int(height), int(width)


def size_text(shape: tuple[int, ...]) -> str:
    """``HxW`` for error messages."""
    return "x".join(str(n) for n in shape)

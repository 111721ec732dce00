"""Reading and writing images, tables and HDF5 stores, atomically and with validation; reading
many images on a thread pool."""

from __future__ import annotations

import contextlib
import os
import secrets
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import h5py
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from medimprint.errors import InputError

#: Largest image accepted (pixels); larger headers are refused before decoding.
MAX_PIXELS = 4096 * 4096

_T = TypeVar("_T")
_R = TypeVar("_R")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A crash or exception leaves no partial file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are 0600; honour the umask like a plain open() would.
    tmp_path = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def read_gray_png(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit grayscale PNG as a uint8 ``H x W`` array.

    RGB/RGBA/LA/palette images that are opaque and whose colour channels are all equal are
    converted to gray with a warning; colour, transparent and 16-bit images, non-PNG, corrupt,
    missing and unreadable files raise `InputError` naming the file and the fix.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise InputError(
                    f"{path}: is a {img.format} file, not a PNG; convert it to an 8-bit "
                    "grayscale PNG or remove it from the input folder"
                )
            if img.width * img.height > MAX_PIXELS:
                raise InputError(
                    f"{path}: {img.width}x{img.height} pixels is larger than the {MAX_PIXELS} "
                    "pixels accepted; resize it to the dataset's image size"
                )
            mode = img.mode
            shown = "palette" if mode == "P" else mode  # the mode as named in messages
            img.load()
            arr = np.asarray(img)
            if mode == "P":
                arr = np.asarray(img.convert("RGBA"))
                mode = "RGBA"
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: image header declares more than {MAX_PIXELS} pixels; resize it to the "
            "dataset's image size"
        ) from None
    except FileNotFoundError:
        if path.is_symlink():
            raise InputError(
                f"{path}: broken symbolic link (to '{os.readlink(path)}'); fix the link or "
                "replace it with the image"
            ) from None
        raise InputError(f"{path}: file not found; check the path and glob in config") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied; make the file readable (chmod a+r)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(
            f"{path}: not a readable PNG ({err}); re-export the image or remove it"
        ) from None
    if mode == "L":
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I", "I;16L"):
        raise InputError(
            f"{path}: 16-bit image; convert it to 8-bit grayscale (0-255) with the window used "
            "for the rest of the dataset"
        )
    if mode in ("RGB", "RGBA", "LA"):
        channels = arr[..., :3] if mode != "LA" else arr[..., :1]
        if mode in ("RGBA", "LA") and np.any(arr[..., -1] != 255):
            raise InputError(
                f"{path}: {shown} image has transparent pixels; save it as an opaque 8-bit "
                "grayscale PNG"
            )
        if not np.all(channels == channels[..., :1]):
            raise InputError(
                f"{path}: colour ({shown}) image where 8-bit grayscale is expected; convert it "
                "to grayscale (mode L) first"
            )
        warnings.warn(
            f"{path}: {shown} image with equal channels converted to grayscale", stacklevel=2
        )
        return np.ascontiguousarray(channels[..., 0], dtype=np.uint8)
    raise InputError(f"{path}: unsupported PNG mode {mode!r}; save it as 8-bit grayscale (mode L)")


def write_gray_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 ``H x W`` array as an 8-bit grayscale PNG (atomically)."""
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 image, got {image.dtype} {image.shape}")
    with atomic_path(path) as tmp:
        Image.fromarray(image, mode="L").save(tmp, format="PNG")


#: Header names users give the id column of a label or group file (file names or stems).
ID_COLUMNS = ("id", "file", "filename", "image", "image_path")
#: Header names users give the label column of a label file.
LABEL_COLUMNS = ("label", "model", "generator", "class", "subset")


def named_columns(
    table: pd.DataFrame, wanted: Mapping[str, Sequence[str]]
) -> tuple[pd.DataFrame, list[str]]:
    """``table`` with the one column named by each ``wanted`` alias list renamed to its key
    (``{"id": ID_COLUMNS}``), and the problems: a key with no such column, or with several."""
    renames, problems = {}, []
    for key, aliases in wanted.items():
        found = [c for c in table.columns if c in aliases]
        if len(found) == 1:
            renames[found[0]] = key
        elif not found:
            problems.append(f"no {key} column (one of {', '.join(aliases)})")
        else:
            problems.append(f"several {key} columns {found}; keep one")
    return table.rename(columns=renames), problems


def read_user_table(path: Path) -> pd.DataFrame:
    """A table a user wrote (label or group file): CSV, or TSV for ``*.tsv``; every cell a
    string (no NaN), a byte-order mark tolerated, column names stripped and lower-cased.
    pandas' parser errors propagate, for the caller to name the fix."""
    table = pd.read_csv(
        path,
        sep="\t" if path.suffix == ".tsv" else ",",
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
    )
    table.columns = [str(c).strip().lower() for c in table.columns]
    return table


def write_table(path: str | os.PathLike, table: pd.DataFrame, *, header: bool = True) -> None:
    """Write a DataFrame as TSV (``.tsv``) or CSV (any other suffix), atomically."""
    sep = "\t" if str(path).endswith(".tsv") else ","
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep=sep, index=False, header=header)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a TSV written by `write_table`, keeping ids and labels as strings."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def write_store(
    path: str | os.PathLike,
    ids: list[str] | np.ndarray,
    arrays: Mapping[str, np.ndarray],
    attrs: Mapping[str, object] | None = None,
) -> None:
    """Write row-aligned arrays with their string ``ids`` to an HDF5 store, atomically.

    Arrays are chunked by rows and gzip-compressed; ``attrs`` record what made the store.
    """
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate ids in store")
    for name, arr in arrays.items():
        if len(arr) != len(ids):
            raise ValueError(f"{path}: '{name}' has {len(arr)} rows for {len(ids)} ids")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            chunks = (min(max(len(arr), 1), 256), *arr.shape[1:]) if len(arr) else None
            f.create_dataset(name, data=arr, chunks=chunks, compression="gzip")
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


def stream_store(
    path: str | os.PathLike,
    ids: Sequence[str],
    name: str,
    rows: Iterable[np.ndarray],
    attrs: Mapping[str, object] | None = None,
) -> None:
    """Write one array of a store row by row (for stacks too large to hold), atomically.

    Every row must share the first row's shape and dtype; there must be one per id.
    """
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate ids in store")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        data = None
        count = 0
        for row in rows:
            row = np.asarray(row)
            if data is None:
                data = f.create_dataset(
                    name,
                    shape=(len(ids), *row.shape),
                    dtype=row.dtype,
                    chunks=(min(max(len(ids), 1), 64), *row.shape),
                    compression="gzip",
                )
            if count == len(ids) or row.shape != data.shape[1:]:
                raise ValueError(
                    f"{path}: row {count} of '{name}' has shape {row.shape}, "
                    f"expected {data.shape[1:]} and {len(ids)} rows"
                )
            data[count] = row
            count += 1
        if count != len(ids):
            raise ValueError(f"{path}: '{name}' got {count} rows for {len(ids)} ids")
        if data is None:
            f.create_dataset(name, shape=(0,), dtype=np.uint8)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


def read_store(
    path: str | os.PathLike, names: list[str], ids: list[str] | None = None
) -> tuple[list[str], dict[str, np.ndarray], dict[str, object]]:
    """Read arrays from an HDF5 store; with ``ids``, return rows in that order (checked)."""
    with h5py.File(path, "r") as f:
        stored = [s.decode() if isinstance(s, bytes) else s for s in f["ids"][()]]
        arrays = {name: f[name][()] for name in names}
        attrs = dict(f.attrs)
    if ids is None:
        return stored, arrays, attrs
    rows, missing = row_positions(stored, ids)
    if missing:
        raise InputError(
            f"{path}: {len(missing)} ids missing from the store (first: {missing[:3]}); "
            "delete the store so the workflow rebuilds it"
        )
    return list(ids), {k: v[rows] for k, v in arrays.items()}, attrs


def row_positions(stored: Sequence[str], wanted: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Rows of ``stored`` holding each of ``wanted`` (in that order), and the wanted ids that are
    not stored (their rows are left out)."""
    index = {id_: row for row, id_ in enumerate(stored)}
    missing = [i for i in wanted if i not in index]
    rows = np.array([index[i] for i in wanted if i in index], dtype=int)
    return rows, missing


#: Warnings of one kind re-emitted from a batch of image reads before a summary.
MAX_WARNINGS = 3


def _default_workers() -> int:
    """Threads for image decoding: the CPUs this process may use, at most 16."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(16, cpus))


def thread_map(fn: Callable[[_T], _R], items: Iterable[_T], workers: int | None) -> list[_R]:
    """``[fn(x) for x in items]`` on a thread pool, in order; warnings are summarised.

    Warnings raised in the workers are recorded (the warnings state is process-wide, so do not
    change warning filters from other threads meanwhile) and re-emitted at most `MAX_WARNINGS`
    per category, then one summary, so 30,000 similar warnings do not flood the log.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pool = ThreadPoolExecutor(max_workers=workers or _default_workers())
        try:
            results = list(pool.map(fn, items))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    _reemit(caught)
    return results


def _reemit(caught: list[warnings.WarningMessage]) -> None:
    by_category: dict[type[Warning], list[warnings.WarningMessage]] = defaultdict(list)
    for record in sorted(caught, key=lambda r: str(r.message)):  # threads finish in any order
        by_category[record.category].append(record)
    for category, records in by_category.items():
        for record in records[:MAX_WARNINGS]:
            warnings.warn_explicit(record.message, category, record.filename, record.lineno)
        if len(records) > MAX_WARNINGS:
            warnings.warn(
                f"... and {len(records) - MAX_WARNINGS} more {category.__name__}s like these "
                "while reading images",
                category,
                stacklevel=3,
            )

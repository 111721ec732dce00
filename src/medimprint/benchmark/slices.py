"""Real CT slices for a benchmark: PNG slices and their meta (patient, slice position, lung box),
from a folder whose file names say the patient and slice, or from a manifest CSV beside it."""

import glob
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from medimprint.errors import InputError
from medimprint.io import read_gray_png

#: Slices-manifest columns giving the reference lungs of a slice (read by `segmentation.quality`).
BOX_COLUMNS = ("lung_bbox_y0", "lung_bbox_x0", "lung_bbox_y1", "lung_bbox_x1")
REFERENCE_COLUMNS = ("file", "lung_area_ratio", *BOX_COLUMNS)


def has_reference_lungs(manifest_csv: str | os.PathLike) -> bool:
    """Whether a slices manifest names reference lungs (so the workflow measures the masks
    against them). Read here, not in `segmentation.quality`, so that planning needs no plotting
    code."""
    header = pd.read_csv(manifest_csv, nrows=0).columns
    return all(column in header for column in REFERENCE_COLUMNS)


def load_slices(
    pattern: str, manifest: str | None, image_size: int, *, keep_low_quality: bool = True
) -> tuple[np.ndarray, pd.DataFrame]:
    """Read real slices matching ``pattern`` as uint8 ``N x S x S`` plus meta ``id, patient, z``.

    With ``manifest`` (CSV: ``file, patient``, optional ``z_index`` and ``slice_quality``;
    ``file`` relative to the manifest's folder) patient and z come from it; without, patient is
    the file stem before its last ``_``. Without a z (no manifest, or a manifest without
    ``z_index``, e.g. a few unrelated slices per patient), z is the file's rank within its
    patient (natural order of the stems).
    ``keep_low_quality=False`` drops manifest rows whose ``slice_quality`` is ``low``. Images of
    another size are resized with Lanczos. Rows are ordered by patient, then z.
    """
    files = _glob_files(pattern)
    if manifest is None:
        meta = _meta_from_names(files)
    else:
        meta = _meta_from_manifest(files, Path(manifest), pattern, keep_low_quality)
    if meta.empty:
        raise InputError(
            f"{manifest}: every slice matching {pattern!r} has slice_quality 'low'; set "
            "slices.keep_low_quality: true or add slices"
        )
    dupes = sorted(meta["id"][meta["id"].duplicated()].unique())
    if dupes:
        raise InputError(
            f"{pattern}: file names must be unique (ids are file stems); repeated: {dupes[:5]}"
        )
    meta = meta.sort_values(["patient", "z", "id"], kind="stable").reset_index(drop=True)
    images = np.stack([_read_resized(path, image_size) for path in meta["path"]])
    return images, meta[["id", "patient", "z"]].astype({"z": int})


def _glob_files(pattern: str) -> list[Path]:
    folder = _static_prefix(pattern)
    if not folder.is_dir():
        raise InputError(f"slices.glob {pattern!r}: folder {folder} does not exist; fix the path")
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise InputError(f"slices.glob {pattern!r}: no files match in {folder}; fix the pattern")
    return files


def _static_prefix(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    static = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        static.append(part)
    return Path(*static) if static else Path(".")


def _natural_key(text: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _meta_from_names(files: list[Path]) -> pd.DataFrame:
    files = sorted(files, key=lambda f: _natural_key(f.stem))
    meta = pd.DataFrame(
        {
            "id": [f.stem for f in files],
            "patient": [f.stem.rsplit("_", 1)[0] for f in files],
            "path": files,
        }
    )
    meta["z"] = meta.groupby("patient").cumcount()
    return meta


def _rank_within_patient(meta: pd.DataFrame) -> np.ndarray:
    """z as the rank of each row's id (natural order) among its patient's rows."""
    order = sorted(range(len(meta)), key=lambda i: _natural_key(str(meta["id"].iloc[i])))
    ranked = meta.iloc[order]
    z = np.empty(len(meta), dtype=int)
    z[order] = ranked.groupby("patient", sort=False).cumcount().to_numpy()
    return z


def _meta_from_manifest(
    files: list[Path], manifest: Path, pattern: str, keep_low_quality: bool
) -> pd.DataFrame:
    table = _read_manifest(manifest)
    table["path"] = [(manifest.parent / f).resolve() for f in table["file"]]
    missing = [str(f) for f, p in zip(table["file"], table["path"], strict=True) if not p.is_file()]
    if missing:
        raise InputError(
            f"{manifest}: {len(missing)} rows name files that do not exist (first: {missing[:5]}); "
            "fix the manifest or restore the files ('file' is relative to the manifest's folder)"
        )
    by_path = table.drop_duplicates("path").set_index("path")
    resolved = [f.resolve() for f in files]
    unlisted = [str(f) for f, r in zip(files, resolved, strict=True) if r not in by_path.index]
    if unlisted:
        raise InputError(
            f"{manifest}: {len(unlisted)} files matching {pattern!r} have no manifest row "
            f"(first: {unlisted[:5]}); add them to the manifest or narrow slices.glob"
        )
    rows = by_path.loc[resolved].reset_index()
    meta = pd.DataFrame({"id": [f.stem for f in files], "patient": rows["patient"]})
    meta["z"] = rows["z_index"] if "z_index" in rows else _rank_within_patient(meta)
    meta["path"] = files
    if not keep_low_quality and "slice_quality" in rows:
        meta = meta[rows["slice_quality"].str.strip().str.lower() != "low"]
    return meta


def _read_manifest(manifest: Path) -> pd.DataFrame:
    if not manifest.is_file():
        raise InputError(f"slices.manifest {manifest}: file not found; fix the path or remove it")
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    absent = [c for c in ("file", "patient") if c not in table.columns]
    if absent:
        raise InputError(
            f"{manifest}: missing columns {absent}; a manifest needs file and patient "
            "(z_index optional)"
        )
    blank = table.loc[table["patient"].str.strip() == "", "file"].tolist()
    if blank:
        raise InputError(
            f"{manifest}: {len(blank)} rows have no patient (first: {blank[:5]}); fill in "
            "'patient' (slices of one patient are kept together by the split)"
        )
    if "z_index" not in table.columns:
        return table
    z = pd.to_numeric(table["z_index"], errors="coerce")
    if z.isna().any() or (z % 1 != 0).any():
        bad = table.loc[z.isna() | (z % 1 != 0), "z_index"].tolist()[:5]
        raise InputError(f"{manifest}: z_index must be integers, got {bad}")
    table["z_index"] = z.astype(int)
    return table


def _read_resized(path: Path, size: int) -> np.ndarray:
    image = read_gray_png(path)
    if image.shape != (size, size):
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))
    return image

"""Turn a pool of real slices into a benchmark in the task's folder layout.

Steps: `load_slices` (or `medimprint.benchmark.phantom.phantom_slices`) gives images and their meta;
`split_real` assigns them to the membership pools of each database; `generator_plan` says which
generators to train and how many samples each must give; `write_layout` writes the task layout
(docs/CONTRACTS.md) atomically.

Sample order: when one model ``"{db}/{family}"`` serves both sub-tasks, membership takes its first
``generated`` samples, then attribution takes the next ``train_per_generator`` (if the family is a
train generator) and then the next ``test_per_generator`` (if it is a test generator).
"""

from __future__ import annotations

import glob
import math
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from medimprint.errors import InputError
from medimprint.io import read_gray_png, write_gray_png, write_table

STATUSES = ("used", "not_used")

# --------------------------------------------------------------------------- loading


#: Slices-manifest columns giving the reference lungs of a slice (`lung_quality` reads them).
BOX_COLUMNS = ("lung_bbox_y0", "lung_bbox_x0", "lung_bbox_y1", "lung_bbox_x1")
REFERENCE_COLUMNS = ("file", "lung_area_ratio", *BOX_COLUMNS)


def has_reference_lungs(manifest_csv: str | os.PathLike) -> bool:
    """Whether a slices manifest names reference lungs (so the workflow measures the masks
    against them). Read here, not in `lung_quality`, so that planning needs no plotting code."""
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


# --------------------------------------------------------------------------- splitting


@dataclass
class _Pool:
    database: str
    status: str
    size: int
    test_fraction: float
    rows: list[int]
    groups: list[list[int]] = field(default_factory=list)  # rows, as received group by group
    turns: int = 0  # groups received so far

    @property
    def remaining(self) -> int:
        return self.size - len(self.rows)


def split_real(
    meta: pd.DataFrame,
    databases: dict[str, dict],
    *,
    by: str,
    block_size: int,
    block_gap: int,
    seed: int,
    test_by: str = "group",
    build: str | None = None,
) -> pd.DataFrame:
    """Assign slices to the ``used`` / ``not_used`` pools of each database, then each pool to a
    labelled ``train`` part and a ``test`` part.

    Slices are grouped (one group per patient, or per block of ``block_size`` consecutive z within
    a patient whose last ``block_gap`` slices are dropped); shuffled groups go whole to the pools in
    turn (db1/used, db1/not_used, db2/used, ...), and images of a group beyond a pool's size stay
    unassigned, so no group and no pair of neighbouring slices is shared between pools. The test
    part of a pool takes whole groups (``test_by="group"``: no test image has a neighbour among
    the labelled training images; the test size differs from ``test_fraction`` of the pool by less
    than a group), or ``test_fraction`` of its images at random (``"image"``). A pool whose test
    or labelled train part comes out empty is refused (``build`` names the build in the message).

    Returns ``id, database, status, part, group`` for the assigned slices only; ``group`` names
    the slice's group: its patient (``by="patient"``, e.g. ``LIDC-0001``) or patient and block
    (``by="block"``, e.g. ``LIDC-0001_b07``, blocks numbered from the patient's lowest z).
    """
    if test_by not in ("image", "group"):
        raise InputError(f"split.test_by: must be 'image' or 'group', got {test_by!r}")
    pools = _make_pools(databases)
    groups = _make_groups(meta, by, block_size, block_gap)
    rng = np.random.default_rng(seed)
    keys = list(groups)
    for gi in rng.permutation(len(keys)):
        if not _give_group(pools, groups[keys[gi]], rng):
            break
    if any(p.remaining for p in pools):
        raise InputError(_shortage_message(pools, groups, by, block_size, block_gap))
    group_of = {row: _group_name(key, by) for key, rows in groups.items() for row in rows}
    frames = []
    for pool in pools:
        rows = sorted(pool.rows)
        n_test = math.floor(len(rows) * pool.test_fraction + 0.5)
        if test_by == "image":
            test = set(np.asarray(rows)[rng.permutation(len(rows))[:n_test]].tolist())
        else:
            test = _whole_groups(pool.groups, n_test, rng)
        if not test or len(test) == len(rows):
            raise InputError(_empty_part_message(pool, test, n_test, test_by, by, build))
        parts = np.array(["test" if r in test else "train" for r in rows], dtype=object)
        frames.append(
            pd.DataFrame(
                {
                    "id": meta["id"].to_numpy()[rows].astype(str),
                    "database": pool.database,
                    "status": pool.status,
                    "part": parts,
                    "group": [group_of[r] for r in rows],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _group_name(key: tuple[str, int], by: str) -> str:
    """``patient`` (split by patient) or ``patient_bNN`` (split by block)."""
    patient, block = key
    return patient if by == "patient" else f"{patient}_b{block:02d}"


def _empty_part_message(
    pool: _Pool, test: set[int], n_test: int, test_by: str, by: str, build: str | None
) -> str:
    where = f"builds.{build}.membership" if build else "membership"
    empty = "test part" if not test else "labelled train part"
    n = len(pool.rows)
    if test_by == "group":
        smaller = "a smaller split.block_size" if by == "block" else "split.by: block"
        how = (
            f"its {n} images are {len(pool.groups)} group(s) (split.by: {by}), and whole groups "
            f"cannot make a test part near {n_test} images (split.test_by: group)"
        )
        fix = (
            f"use smaller groups ({smaller}), larger pools or more slices, or split.test_by: "
            "image (test images drawn one by one)"
        )
    else:
        how = f"test_fraction {pool.test_fraction:g} of {n} images is {n_test} test images"
        fix = f"change {where}.{pool.database}.test_fraction or the pool size"
    return (
        f"split: {where}.{pool.database}: pool {pool.database}/{pool.status} gets an empty "
        f"{empty}: {how}; {fix}"
    )


def _whole_groups(groups: list[list[int]], n_test: int, rng: np.random.Generator) -> set[int]:
    """Rows of groups taken in random order whenever one brings the count nearer ``n_test``."""
    test: set[int] = set()
    for gi in rng.permutation(len(groups)):
        group = groups[gi]
        if abs(len(test) + len(group) - n_test) < abs(len(test) - n_test):
            test.update(group)
    return test


def _make_pools(databases: dict[str, dict]) -> list[_Pool]:
    if not databases:
        raise InputError("membership: no databases configured; add at least one (db1: {...})")
    pools = []
    for db, cfg in databases.items():
        fraction = cfg.get("test_fraction", 0.5)
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise InputError(f"membership.{db}.test_fraction: must be in [0, 1], got {fraction!r}")
        for status in STATUSES:
            size = cfg.get(status)
            if not isinstance(size, int | np.integer) or isinstance(size, bool) or size < 0:
                raise InputError(
                    f"membership.{db}.{status}: must be a non-negative integer, got {size!r}"
                )
            pools.append(_Pool(str(db), status, int(size), float(fraction), []))
    return pools


def _make_groups(
    meta: pd.DataFrame, by: str, block_size: int, block_gap: int
) -> dict[tuple[str, int], list[int]]:
    """Row indices per group, each ordered by z; groups keyed (patient, block) in sorted order."""
    absent = [c for c in ("id", "patient", "z") if c not in meta.columns]
    if absent:
        raise ValueError(f"meta lacks columns {absent}")
    if meta["id"].duplicated().any():
        raise InputError(f"slice ids are not unique: {meta['id'][meta['id'].duplicated()][:5]}")
    if by not in ("patient", "block"):
        raise InputError(f"split.by: must be 'patient' or 'block', got {by!r}")
    if by == "block" and not 0 <= block_gap < block_size:
        raise InputError(
            f"split.block_gap ({block_gap}) must be >= 0 and smaller than split.block_size "
            f"({block_size})"
        )
    patient = meta["patient"].astype(str).to_numpy()
    z = meta["z"].astype(int).to_numpy()
    groups: dict[tuple[str, int], list[int]] = {}
    for p in sorted(set(patient)):
        rows = np.flatnonzero(patient == p)
        rows = rows[np.argsort(z[rows], kind="stable")]
        if by == "patient":
            groups[(p, 0)] = rows.tolist()
            continue
        offset = z[rows] - z[rows].min()
        keep = offset % block_size < block_size - block_gap
        for row, block in zip(rows[keep], offset[keep] // block_size, strict=True):
            groups.setdefault((p, int(block)), []).append(int(row))
    return groups


def _give_group(pools: list[_Pool], rows: list[int], rng: np.random.Generator) -> bool:
    """Give ``rows`` to the next pool in turn that is not full; False once all are full."""
    open_pools = [p for p in pools if p.remaining]
    if not open_pools:
        return False
    # interleaved turns: the open pool that received the fewest groups, ties in config order
    pool = min(open_pools, key=lambda p: p.turns)
    pool.turns += 1
    if len(rows) > pool.remaining:
        rows = sorted(rng.choice(rows, size=pool.remaining, replace=False).tolist())
    pool.rows.extend(int(r) for r in rows)
    pool.groups.append([int(r) for r in rows])
    return True


def _shortage_message(
    pools: list[_Pool], groups: dict, by: str, block_size: int, block_gap: int
) -> str:
    needed = sum(p.size for p in pools)
    available = sum(len(g) for g in groups.values())
    short = ", ".join(f"{p.database}/{p.status} got {len(p.rows)} of {p.size}" for p in pools)
    how = "one group per patient"
    if by == "block":
        how = f"blocks of split.block_size={block_size} minus split.block_gap={block_gap}"
    return (
        f"split: the membership pools need {needed} real images in at least "
        f"{sum(p.size > 0 for p in pools)} groups (a group goes whole to one pool), but there are "
        f"{available} usable images in {len(groups)} groups ({how}); {short}. Lower "
        "membership.<db>.used / membership.<db>.not_used, use split.by: block or a smaller "
        "split.block_size / split.block_gap, or add slices"
    )


# --------------------------------------------------------------------------- generators


@dataclass(frozen=True)
class _SampleRange:
    use: str  # "membership", "attribution_train" or "attribution_test"
    name: str  # database (membership) or family (attribution)
    key: str  # model "{database}/{family}"
    start: int
    stop: int


def _sample_ranges(build: dict) -> list[_SampleRange]:
    """Which samples of which model each part of the layout takes (see module docstring)."""
    membership = build.get("membership") or {}
    used: dict[str, int] = {}
    ranges = []

    def take(use: str, name: str, key: str, n: int) -> None:
        start = used.get(key, 0)
        used[key] = start + n
        ranges.append(_SampleRange(use, name, key, start, start + n))

    for db, cfg in membership.items():
        family = _key(cfg, "generator", f"membership.{db}")
        take("membership", db, f"{db}/{family}", _count(cfg, "generated", f"membership.{db}"))
    attribution = build.get("attribution")
    if attribution:
        pool = _key(attribution, "pool", "attribution")
        if pool not in membership:
            raise InputError(
                f"attribution.pool {pool!r}: must be one of the membership databases "
                f"{sorted(membership)} (its used images train the generators)"
            )
        train = list(_key(attribution, "train_generators", "attribution"))
        test = list(_key(attribution, "test_generators", "attribution"))
        n_train = _count(attribution, "train_per_generator", "attribution")
        n_test = _count(attribution, "test_per_generator", "attribution")
        for family in train:
            take("attribution_train", family, f"{pool}/{family}", n_train)
        for family in test:
            take("attribution_test", family, f"{pool}/{family}", n_test)
    return ranges


def _key(cfg: dict, key: str, where: str) -> object:
    if key not in cfg:
        raise InputError(f"{where}.{key}: missing; add it to the build config")
    return cfg[key]


def _count(cfg: dict, key: str, where: str) -> int:
    value = _key(cfg, key, where)
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
        raise InputError(f"{where}.{key}: must be a non-negative integer, got {value!r}")
    return int(value)


def generator_plan(build: dict) -> dict[str, int]:
    """Models a build needs, ``"{database}/{family}" -> number of samples``.

    Each model is trained on the used images of its database; a model serving both sub-tasks
    gives membership its first samples and attribution the next ones (counts add up).
    """
    plan: dict[str, int] = {}
    for r in _sample_ranges(build):
        plan[r.key] = max(plan.get(r.key, 0), r.stop)
    return plan


# --------------------------------------------------------------------------- writing


def write_layout(
    out_dir: str | os.PathLike,
    images: np.ndarray,
    meta: pd.DataFrame,
    splits: pd.DataFrame,
    samples: dict[str, np.ndarray],
    build: dict,
    *,
    seed: int,
) -> None:
    """Write the task layout (docs/CONTRACTS.md) for ``build`` under ``out_dir``.

    ``images`` are row-aligned with ``meta``; ``splits`` comes from `split_real` (with its
    ``group`` column, written to each database's ``groups.csv``); ``samples`` maps each
    `generator_plan` key to at least that many uint8 images. Everything is written to a
    temporary sibling folder that replaces ``out_dir`` only when complete.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder; remove it")
    ranges = _sample_ranges(build)
    _check_inputs(images, meta, splits, samples, ranges, build)
    rng = np.random.default_rng(seed)
    per_folder = build.get("file_names", "unique") == "per_folder"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling_dir(out_dir, "tmp")
    try:
        row_of = {id_: row for row, id_ in enumerate(meta["id"].astype(str))}
        for r in ranges:
            if r.use == "membership":
                db_splits = splits[splits["database"] == r.name]
                generated = samples[r.key][r.start : r.stop]
                folder = tmp / "membership" / r.name
                _write_membership(
                    folder, r.name, images, row_of, db_splits, generated, rng, per_folder
                )
        if build.get("attribution"):
            _write_attribution(tmp / "attribution", ranges, samples, rng, per_folder)
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_inputs(
    images: np.ndarray,
    meta: pd.DataFrame,
    splits: pd.DataFrame,
    samples: dict[str, np.ndarray],
    ranges: list[_SampleRange],
    build: dict,
) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or len(images) != len(meta):
        raise ValueError(f"images must be uint8 N x H x W aligned with meta ({len(meta)} rows)")
    if "group" not in splits.columns:
        raise InputError(
            "splits have no 'group' column (made by an older version); rerun the split"
        )
    unknown = set(splits["id"].astype(str)) - set(meta["id"].astype(str))
    if unknown:
        raise ValueError(f"splits name ids missing from meta: {sorted(unknown)[:5]}")
    for db in build.get("membership") or {}:
        if not (splits["database"] == db).any():
            raise InputError(f"membership.{db}: no real images assigned; rerun the split")
    for r in ranges:
        arr = samples.get(r.key)
        if arr is None:
            raise InputError(f"samples for model {r.key!r} are missing; train it first")
        if arr.dtype != np.uint8 or arr.shape[1:] != images.shape[1:]:
            raise InputError(
                f"samples {r.key!r}: expected uint8 images of {images.shape[1:]}, got "
                f"{arr.dtype} {arr.shape[1:]}; regenerate them at the build's image_size"
            )
        if len(arr) < r.stop:
            raise InputError(
                f"samples {r.key!r}: {len(arr)} images, the build needs {r.stop}; regenerate them"
            )


def _write_membership(
    folder: Path,
    db: str,
    images: np.ndarray,
    row_of: dict[str, int],
    splits: pd.DataFrame,
    generated: np.ndarray,
    rng: np.random.Generator,
    per_folder: bool = False,
) -> None:
    """One database: with ``per_folder`` names as the task ships them (numbered per role folder,
    so names repeat across folders; headers ``file,...``), else a name unique to each image."""
    for i, image in enumerate(generated):
        name = f"image_{i:05d}" if per_folder else f"{db}_gen_{i:05d}"
        write_gray_png(folder / "generated" / f"{name}.png", image)
    train = splits[splits["part"] == "train"]
    groups = []  # (file as named in groups.csv, group), one per real image
    for status in STATUSES:
        rows = train[train["status"] == status]
        pairs = zip(rows["id"].astype(str), rows["group"].astype(str), strict=True)
        for i, (id_, group) in enumerate(pairs):
            name = f"image_{i:05d}" if per_folder else id_
            write_gray_png(folder / f"real_{status}" / f"{name}.png", images[row_of[id_]])
            groups.append((f"real_{status}/{name}.png" if per_folder else name, group))
    test = splits[splits["part"] == "test"]
    labels = []
    for i, row in enumerate(rng.permutation(len(test))):
        id_, status = str(test["id"].iloc[row]), test["status"].iloc[row]
        anon = f"image_{i:05d}" if per_folder else f"{db}_unknown_{i:04d}"
        write_gray_png(folder / "real_unknown" / f"{anon}.png", images[row_of[id_]])
        labels.append((f"{anon}.png" if per_folder else anon, 1 if status == "used" else 0))
        groups.append(
            (f"real_unknown/{anon}.png" if per_folder else anon, str(test["group"].iloc[row]))
        )
    for sub in ("generated", "real_used", "real_not_used", "real_unknown"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    key = "file" if per_folder else "id"
    write_table(folder / "test_labels.csv", pd.DataFrame(labels, columns=[key, "label"]))
    write_table(folder / "groups.csv", pd.DataFrame(groups, columns=[key, "group"]))


def _write_attribution(
    folder: Path,
    ranges: list[_SampleRange],
    samples: dict[str, np.ndarray],
    rng: np.random.Generator,
    per_folder: bool = False,
) -> None:
    test: list[tuple[str, np.ndarray]] = []
    for r in ranges:
        chunk = samples[r.key][r.start : r.stop]
        if r.use == "attribution_train":
            (folder / "train" / r.name).mkdir(parents=True, exist_ok=True)
            for i, image in enumerate(chunk):
                name = f"image_{i:05d}" if per_folder else f"{r.name}_{i:05d}"
                write_gray_png(folder / "train" / r.name / f"{name}.png", image)
        elif r.use == "attribution_test":
            test.extend((r.name, image) for image in chunk)
    (folder / "test").mkdir(parents=True, exist_ok=True)
    labels = []
    for i, k in enumerate(rng.permutation(len(test))):
        family, image = test[k]
        name = f"image_{i:05d}" if per_folder else f"test_{i:05d}"
        write_gray_png(folder / "test" / f"{name}.png", image)
        labels.append((f"{name}.png" if per_folder else name, family))
    columns = ["file", "model"] if per_folder else ["id", "label"]
    write_table(folder / "test_labels.csv", pd.DataFrame(labels, columns=columns))


def _sibling_dir(out_dir: Path, kind: str) -> Path:
    """Create a new empty hidden folder beside ``out_dir``.

    Not tempfile.mkdtemp: its folders are 0700; honour the umask like a plain mkdir would.
    """
    while True:
        path = out_dir.parent / f".{out_dir.name}.{secrets.token_hex(8)}.{kind}"
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` folder to ``out_dir``, deleting an older ``out_dir`` last."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = _sibling_dir(out_dir, "old")
    os.replace(out_dir, old)  # onto the empty placeholder folder
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)

"""Write a benchmark in the task's folder layout (docs/CONTRACTS.md), atomically: the generators to
train and the samples each must give (`generator_plan`), then the membership and attribution
folders with their label and group files (`write_layout`).

Sample order: when one model ``"{db}/{family}"`` serves both sub-tasks, membership takes its first
``generated`` samples, then attribution takes the next ``train_per_generator`` (if the family is a
train generator) and then the next ``test_per_generator`` (if it is a test generator).
Attribution generators are families trained on the pool's used images, or another database's
(``db1/vae``, named ``vae.db1``: a look-alike of the pool's ``vae``).

A ``subsets`` set (the task's 2025 sub-task 2) takes each listed database's used images as one
real training subset and model ``"{db}/{family}"`` as its generator: its first
``per_subset`` free samples go to ``generated/<db>/``, the next ``unknown_per_subset`` to
``generated_unknown/`` (shuffled, with ``test_labels.csv``). With ``null: true`` one model,
``"pooled/{family}"``, learns every database's used images and its samples are dealt to the
subsets in turn: the labels then carry no signal, a check that every method sits at chance.

A membership database with ``generated_test`` gives its test split its own generator, as the task
may: model ``"{db}.test/{family}"`` learns the test part's used images and writes
``generated_test/``, model ``"{db}.dev/{family}"`` the labelled (train part's) used images and
writes ``generated/`` (`training_rows`); attribution's ``"{db}/{family}"`` stays the model of
all used images.
"""

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medimprint.benchmark.split import STATUSES
from medimprint.errors import InputError
from medimprint.io import write_gray_png, write_table

#: Where each role's images go in a membership database's folder (build key
#: ``membership_folders``): one folder per role, or the task's train / test parts.
MEMBERSHIP_FOLDERS = {
    "flat": {
        "generated": "generated",
        "real_used": "real_used",
        "real_not_used": "real_not_used",
        "real_unknown": "real_unknown",
        "generated_test": "generated_test",
    },
    "task": {
        "generated": "train/generated",
        "real_used": "train/real_used",
        "real_not_used": "train/real_not_used",
        "real_unknown": "test/real_unknown",
        "generated_test": "test/generated",
    },
}
#: Suffixes of the model databases of a membership database whose test split has its own
#: generator: the development split's model (``db1.dev``) and the test split's (``db1.test``).
DEV_MODEL, TEST_MODEL = ".dev", ".test"
#: The model database of a null subsets set: every membership database's used images.
POOLED = "pooled"
#: Where a subsets set goes in a build's layout.
SUBSETS_FOLDER = "subsets"


@dataclass(frozen=True)
class _SampleRange:
    use: str  # "membership", "membership_test", "attribution_train" or "attribution_test"
    name: str  # database (membership) or generator name (attribution: `attribution_model`)
    key: str  # model "{database}/{family}"
    start: int
    stop: int
    folder: str  # the layout folder: membership/{db}, attribution or attribution_{set}


def _sample_ranges(build: dict) -> list[_SampleRange]:
    """Which samples of which model each part of the layout takes (see module docstring)."""
    membership = build.get("membership") or {}
    used: dict[str, int] = {}
    ranges = []

    def take(use: str, name: str, key: str, n: int, folder: str) -> None:
        start = used.get(key, 0)
        used[key] = start + n
        ranges.append(_SampleRange(use, name, key, start, start + n, folder))

    for db, cfg in membership.items():
        family = _key(cfg, "generator", f"membership.{db}")
        n = _count(cfg, "generated", f"membership.{db}")
        if "generated_test" in cfg:
            n_test = _count(cfg, "generated_test", f"membership.{db}")
            take("membership", db, f"{db}{DEV_MODEL}/{family}", n, f"membership/{db}")
            take("membership_test", db, f"{db}{TEST_MODEL}/{family}", n_test, f"membership/{db}")
        else:
            take("membership", db, f"{db}/{family}", n, f"membership/{db}")
    for folder, where, attribution in attribution_sets(build):
        pool = _key(attribution, "pool", where)
        if pool not in membership:
            raise InputError(
                f"{where}.pool {pool!r}: must be one of the membership databases "
                f"{sorted(membership)} (its used images train the generators)"
            )
        n_train = _count(attribution, "train_per_generator", where)
        n_test = _count(attribution, "test_per_generator", where)
        for use, key, n in (
            ("train", "train_generators", n_train),
            ("test", "test_generators", n_test),
        ):
            for entry in _key(attribution, key, where):
                name, model = attribution_model(entry, pool, membership)
                take(f"attribution_{use}", name, model, n, folder)
    subsets = build.get("subsets")
    if subsets:
        family = _key(subsets, "generator", "subsets")
        databases = _key(subsets, "databases", "subsets")
        unknown_databases = sorted(set(databases) - set(membership))
        if unknown_databases:
            raise InputError(
                f"subsets.databases {unknown_databases}: not membership databases of the build "
                f"({', '.join(sorted(membership))}); each subset is one database's used images"
            )
        for use, key in (
            ("subsets_labelled", "per_subset"),
            ("subsets_unknown", "unknown_per_subset"),
        ):
            n = _count(subsets, key, "subsets")
            for db in databases:
                model = f"{POOLED if subsets.get('null') else db}/{family}"
                take(use, db, model, n, SUBSETS_FOLDER)
    return ranges


def attribution_sets(build: dict) -> list[tuple[str, str, dict]]:
    """``(layout folder, config key, spec)`` of each attribution set of a build: ``attribution``
    (folder ``attribution``), then each of ``attribution_sets`` (folder ``attribution_{name}``),
    e.g. a look-alike set beside the main one, its generators sharing the build's models."""
    sets = (
        [("attribution", "attribution", build["attribution"])] if build.get("attribution") else []
    )
    for name, spec in (build.get("attribution_sets") or {}).items():
        sets.append((f"attribution_{name}", f"attribution_sets.{name}", spec))
    return sets


def attribution_model(entry: str, pool: str, membership: dict) -> tuple[str, str]:
    """``(generator name, model key)`` of an attribution generator entry.

    ``vae``: the family trained on the pool's used images (name ``vae``, model ``{pool}/vae``).
    ``db1/vae``: the same family trained on another database's used images, named
    ``vae.db1``: a look-alike of the pool's ``vae`` (one architecture, other training data),
    the case where generator fingerprints are hardest to tell apart.
    """
    database, _, family = entry.rpartition("/")
    if not database:
        return family, f"{pool}/{family}"
    if database not in membership:
        raise InputError(
            f"attribution generator {entry!r}: {database!r} is not a membership database of "
            f"the build ({', '.join(sorted(membership))}); name one of them"
        )
    if database == pool:
        return family, entry
    return f"{family}.{database}", entry


def _key(cfg: dict, key: str, where: str) -> object:
    if key not in cfg:
        raise InputError(f"{where}.{key}: missing; add it to the build config")
    return cfg[key]


def _count(cfg: dict, key: str, where: str) -> int:
    value = _key(cfg, key, where)
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
        raise InputError(f"{where}.{key}: must be a non-negative integer, got {value!r}")
    return int(value)


def training_rows(splits: pd.DataFrame, database: str) -> pd.DataFrame:
    """The real images (rows of ``splits``) a model of ``database`` learns: the database's used
    images, only the labelled part's for ``"{db}.dev"`` and the test part's for
    ``"{db}.test"``."""
    if database == POOLED:
        return splits[splits["status"] == "used"]
    base, part = database, None
    for suffix, learns in ((DEV_MODEL, "train"), (TEST_MODEL, "test")):
        if database.endswith(suffix):
            base, part = database.removesuffix(suffix), learns
    used = splits[(splits["database"] == base) & (splits["status"] == "used")]
    return used if part is None else used[used["part"] == part]


def generator_plan(build: dict) -> dict[str, int]:
    """Models a build needs, ``"{database}/{family}" -> number of samples``.

    Each model is trained on the used images of its database; a model serving both sub-tasks
    gives membership its first samples and attribution the next ones (counts add up).
    """
    plan: dict[str, int] = {}
    for r in _sample_ranges(build):
        plan[r.key] = max(plan.get(r.key, 0), r.stop)
    return plan


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
    folders = MEMBERSHIP_FOLDERS[build.get("membership_folders", "flat")]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling_dir(out_dir, "tmp")
    try:
        row_of = {id_: row for row, id_ in enumerate(meta["id"].astype(str))}
        for r in ranges:
            if r.use == "membership":
                db_splits = splits[splits["database"] == r.name]
                generated = samples[r.key][r.start : r.stop]
                _write_membership(
                    tmp / r.folder,
                    r.name,
                    images,
                    row_of,
                    db_splits,
                    generated,
                    rng,
                    per_folder,
                    folders,
                )
            elif r.use == "membership_test":
                _write_generated(
                    tmp / r.folder / folders["generated_test"],
                    samples[r.key][r.start : r.stop],
                    f"{r.name}_gentest",
                    per_folder,
                )
        for folder, _, _ in attribution_sets(build):
            own = [r for r in ranges if r.folder == folder]
            _write_attribution(tmp / folder, own, samples, rng, per_folder)
        own = [r for r in ranges if r.folder == SUBSETS_FOLDER]
        if own:
            _write_subsets(tmp / SUBSETS_FOLDER, own, images, row_of, splits, samples, rng)
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
    folders: dict[str, str] | None = None,
) -> None:
    """One database: with ``per_folder`` names as the task ships them (numbered per role folder,
    so names repeat across folders; headers ``file,...``), else a name unique to each image;
    each role in its folder of ``folders`` (`MEMBERSHIP_FOLDERS`, flat by default)."""
    folders = folders or MEMBERSHIP_FOLDERS["flat"]
    _write_generated(folder / folders["generated"], generated, f"{db}_gen", per_folder)
    train = splits[splits["part"] == "train"]
    groups = []  # (file as named in groups.csv, group), one per real image
    for status in STATUSES:
        rows = train[train["status"] == status]
        pairs = zip(rows["id"].astype(str), rows["group"].astype(str), strict=True)
        role = folders[f"real_{status}"]
        for i, (id_, group) in enumerate(pairs):
            name = f"image_{i:05d}" if per_folder else id_
            write_gray_png(folder / role / f"{name}.png", images[row_of[id_]])
            groups.append((f"{role}/{name}.png" if per_folder else name, group))
    test = splits[splits["part"] == "test"]
    labels = []
    unknown = folders["real_unknown"]
    for i, row in enumerate(rng.permutation(len(test))):
        id_, status = str(test["id"].iloc[row]), test["status"].iloc[row]
        anon = f"image_{i:05d}" if per_folder else f"{db}_unknown_{i:04d}"
        write_gray_png(folder / unknown / f"{anon}.png", images[row_of[id_]])
        labels.append((f"{anon}.png" if per_folder else anon, 1 if status == "used" else 0))
        groups.append(
            (f"{unknown}/{anon}.png" if per_folder else anon, str(test["group"].iloc[row]))
        )
    for role in ("real_used", "real_not_used", "real_unknown"):
        (folder / folders[role]).mkdir(parents=True, exist_ok=True)
    key = "file" if per_folder else "id"
    write_table(folder / "test_labels.csv", pd.DataFrame(labels, columns=[key, "label"]))
    write_table(folder / "groups.csv", pd.DataFrame(groups, columns=[key, "group"]))


def _write_generated(folder: Path, images: np.ndarray, prefix: str, per_folder: bool) -> None:
    """Generated samples into ``folder``: ``image_NNNNN.png`` as the task names them, or
    ``{prefix}_NNNNN.png`` unique to the build."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        name = f"image_{i:05d}" if per_folder else f"{prefix}_{i:05d}"
        write_gray_png(folder / f"{name}.png", image)


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


def _write_subsets(
    folder: Path,
    ranges: list[_SampleRange],
    images: np.ndarray,
    row_of: dict[str, int],
    splits: pd.DataFrame,
    samples: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> None:
    """The task's 2025 sub-task 2 layout: ``real/<subset>/`` (the database's used images, both
    parts), ``generated/<subset>/``, ``generated_unknown/`` and ``test_labels.csv``
    (``image_path,label``), every folder numbered from 0 as the task ships it."""
    unknown: list[tuple[str, np.ndarray]] = []
    for r in ranges:
        chunk = samples[r.key][r.start : r.stop]
        if r.use == "subsets_unknown":
            unknown.extend((r.name, image) for image in chunk)
            continue
        used = splits[(splits["database"] == r.name) & (splits["status"] == "used")]
        for i, id_ in enumerate(used["id"].astype(str)):
            write_gray_png(folder / "real" / r.name / f"image_{i:05d}.png", images[row_of[id_]])
        for i, image in enumerate(chunk):
            write_gray_png(folder / "generated" / r.name / f"image_{i:05d}.png", image)
    (folder / "generated_unknown").mkdir(parents=True, exist_ok=True)
    labels = []
    for i, k in enumerate(rng.permutation(len(unknown))):
        subset, image = unknown[k]
        write_gray_png(folder / "generated_unknown" / f"image_{i:05d}.png", image)
        labels.append((f"image_{i:05d}.png", subset))
    write_table(folder / "test_labels.csv", pd.DataFrame(labels, columns=["image_path", "label"]))


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

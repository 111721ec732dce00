"""Ingest one dataset's image folders into a validated manifest (see docs/CONTRACTS.md).

`ingest` resolves the configured globs, decodes every image once (on a thread pool, keeping only
its shape), and checks sizes, ids and test labels. All problems found are reported together in
one `InputError`; nothing is written by `ingest` itself.

Rules for input that is odd but usable: folders matched by a glob are skipped; opaque RGB, RGBA,
LA and palette PNGs whose channels are equal are read as gray, with a warning
(`medimprint.io.read_gray_png`); images of one gray level (e.g. all black) are kept with one
warning, unless every image of a glob is such, which is an error (their features would all be
equal: nothing to cluster or compare); roots and globs may contain spaces and shell
metacharacters (they are never passed to a shell).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from medimprint.data.manifest import COLUMNS, ROLE_SEPARATOR, size_text
from medimprint.errors import InputError
from medimprint.io import (
    ID_COLUMNS,
    LABEL_COLUMNS,
    named_columns,
    read_gray_png,
    read_user_table,
    thread_map,
)

#: Ids (file stems) and generator names must match this.
ID_PATTERN = re.compile(r"(?!\.+$)[A-Za-z0-9._-]+")
ID_RULE = "ASCII letters, digits, '.', '_' and '-' only (no spaces, folders or dots alone)"
#: Problems listed per kind in an error message before "... and N more".
MAX_LISTED = 20

#: membership config key -> (role, split, label), in manifest order.
MEMBERSHIP_SOURCES = {
    "generated": ("generated", "train", ""),
    "real_used": ("real", "train", "1"),
    "real_not_used": ("real", "train", "0"),
    "real_unknown": ("real", "test", ""),
    "generated_test": ("generated", "test", ""),
}
#: Membership keys a dataset may leave out: the test split's own generated images (without
#: them, test images are scored against the training split's).
OPTIONAL_MEMBERSHIP = ("generated_test",)
#: Membership keys that may list several globs (e.g. the task's train/generated and
#: test/generated, for a user who knows one generator made both).
GLOB_LISTS = ("generated", "generated_test")
MEMBERSHIP_LABELS = ("0", "1")
#: subsets config key -> (role, split) of its images; ``real`` and ``generated`` globs name each
#: image's subset by the folder holding it (the task's ``real/<subset>/``,
#: ``generated/<subset>/``), ``unknown`` holds the generated images to assign.
SUBSET_SOURCES = {
    "real": ("real", "train"),
    "generated": ("generated", "train"),
    "unknown": ("generated", "test"),
}
#: The analyses a dataset entry may hold, one per entry.
KINDS = ("membership", "attribution", "subsets")

_CONFIG = "config"
_EMPTY = "globs matching no file"
_IMAGES = "unreadable or invalid images"
_IDS = "bad or duplicate ids (file stems)"
_SIZES = "mixed image sizes (height x width)"
_CONSTANT = "globs whose images all have one gray level"
_LABELS = "test labels"


@dataclass(frozen=True)
class _Source:
    """One configured glob and the manifest columns its files get."""

    key: str  # config key, e.g. "membership.real_used" or "membership.generated[1]"
    pattern: str
    role: str
    split: str
    label: str
    name: str = ""  # short name of one glob of a list: its folder

    @property
    def tag(self) -> str:
        """The source's short name in role-qualified ids: ``real_used``, a generator, ``test``,
        or the folder of one glob of a list (``test/generated``)."""
        return self.name or self.key.rsplit(".", 1)[-1]

    @property
    def labelled_test(self) -> bool:
        """Whether the test labels name this source's images: the test images whose status,
        generator or subset is asked (a membership test split's generated images are given,
        not asked)."""
        return self.split == "test" and (self.role == "real" or not self.key.startswith("member"))


@dataclass(frozen=True)
class _Plan:
    """A dataset entry, checked: what to glob and where the test labels are."""

    kind: str  # one of KINDS
    root: Path
    sources: list[_Source]
    labels_file: str | None


class _Problems:
    """Collects problems by kind and raises them together as one `InputError`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.by_kind: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, message: str) -> None:
        self.by_kind[kind].append(message)

    def raise_if_any(self) -> None:
        if self.by_kind:
            raise self.error()

    def error(self) -> InputError:
        """One `InputError` listing up to `MAX_LISTED` problems of each kind."""
        total = sum(len(messages) for messages in self.by_kind.values())
        lines = [f"dataset '{self.name}': {total} problem(s) found; fix them and rerun"]
        for kind, messages in self.by_kind.items():
            lines.append(f"{kind} ({len(messages)}):")
            lines += [f"  - {message}" for message in messages[:MAX_LISTED]]
            if len(messages) > MAX_LISTED:
                lines.append(f"  ... and {len(messages) - MAX_LISTED} more")
        return InputError("\n".join(lines))


# --- public API -----------------------------------------------------------------------------


def ingest(
    spec: Mapping[str, Any], *, name: str = "dataset", workers: int | None = None
) -> pd.DataFrame:
    """Validate one dataset entry's images and labels; return its manifest (`COLUMNS`, strings).

    Rows follow the config order of `docs/CONTRACTS.md` (generators sorted by name), files sorted
    within each glob. Raises one `InputError` listing every problem found.
    """
    problems = _Problems(name)
    plan = _plan(spec, problems)
    if plan is None:  # no usable root or task section: nothing more can be checked
        raise problems.error()
    found = _resolve(plan, problems)
    ids = _ids(found)
    _check_ids(found, ids, problems)
    paths = list(dict.fromkeys(path for _, path in found))
    shapes, constant = _check_images(paths, workers, problems)
    _check_sizes(paths, shapes, problems)
    _check_constant(found, shapes, constant, problems)
    labels = _read_labels(plan, found, problems)
    problems.raise_if_any()
    return _manifest(found, ids, labels)


def dataset_files(spec: Mapping[str, Any]) -> list[str]:
    """Every file a dataset entry names (images and label file). Never raises: problems are
    left for `ingest` to report."""
    plan = _plan(spec, _Problems("dataset"))
    if plan is None:
        return []
    return [path for _, path in _resolve(plan, _Problems("dataset"))] + _label_files(plan)


def files_digest(paths: Iterable[str | os.PathLike]) -> str:
    """A digest of the files' paths, sizes and modification times, read from their metadata
    only: it changes when a file is added, removed or edited. The workflow passes it to ingest
    as a parameter instead of one input per image, so Snakemake compares one string where it
    would stat every image at each scheduling round and list them all when ingest fails."""
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        try:
            stat = os.stat(path)
            digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\tmissing\n".encode())
    return digest.hexdigest()[:16]


def label_file(spec: Mapping[str, Any]) -> list[str]:
    """The dataset's test label file when it exists ([] otherwise), for the workflow's DAG."""
    plan = _plan(spec, _Problems("dataset"))
    return [] if plan is None else _label_files(plan)


# --- config ---------------------------------------------------------------------------------


def _plan(spec: Mapping[str, Any], problems: _Problems) -> _Plan | None:
    """Check the entry; return what to glob, or None when no root or task section is usable.

    Problems with single keys are recorded and their sources skipped, so files still get checked.
    """
    if not isinstance(spec, Mapping):
        problems.add(_CONFIG, f"dataset entry must be a mapping, got {type(spec).__name__}")
        return None
    root = _root(spec, problems)
    kinds = [kind for kind in KINDS if kind in spec]
    if len(kinds) != 1:
        which = f"{'both ' * (len(kinds) == 2)}{' and '.join(map(repr, kinds))}" or "none"
        problems.add(
            _CONFIG,
            f"dataset has {which} of the sections {', '.join(map(repr, KINDS))}; give exactly "
            "one (one dataset entry per analysis)",
        )
        return None
    kind = kinds[0]
    section = spec[kind]
    if not isinstance(section, Mapping):
        problems.add(_CONFIG, f"{kind}: must be a mapping of globs, got {section!r}")
        return None
    if kind == "membership":
        sources = _membership_sources(section, problems)
    elif kind == "attribution":
        sources = _attribution_sources(section, problems)
    else:
        sources = _subset_sources(section, root, problems)
    labels_file = section.get("test_labels")
    if labels_file is not None and (not isinstance(labels_file, str) or not labels_file.strip()):
        problems.add(_CONFIG, f"{kind}.test_labels: must be a file path, got {labels_file!r}")
        labels_file = None
    if root is None:
        return None
    return _Plan(kind, root, sources, labels_file)


def _root(spec: Mapping[str, Any], problems: _Problems) -> Path | None:
    """Return the dataset's existing root folder, or None (with a problem)."""
    root = spec.get("root")
    if not isinstance(root, str | os.PathLike) or not str(root).strip():
        problems.add(_CONFIG, f"root: must be the dataset's base folder, got {root!r}")
        return None
    path = Path(root).expanduser()
    if not path.exists():
        problems.add(
            _CONFIG,
            f"root: folder '{path}' does not exist (relative paths start at {Path.cwd()}); "
            "fix the path in config",
        )
        return None
    if not path.is_dir():
        problems.add(_CONFIG, f"root: '{path}' is a file, not a folder; fix the path in config")
        return None
    if not os.access(path, os.R_OK | os.X_OK):
        problems.add(
            _CONFIG,
            f"root: folder '{path}' cannot be read (permission denied); make it "
            "readable (chmod a+rx) or fix the path in config",
        )
        return None
    return path


def _glob_value(
    section: Mapping[str, Any], key: Any, prefix: str, problems: _Problems
) -> str | None:
    """Return the glob string configured under ``section[key]``, or None (with a problem)."""
    value = section.get(key)
    if value is None:
        problems.add(
            _CONFIG, f"{prefix}.{key}: missing; give a glob relative to root, e.g. '{key}/*.png'"
        )
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(_CONFIG, f"{prefix}.{key}: must be a glob string, got {value!r}")
        return None
    return value


def _membership_sources(section: Mapping[str, Any], problems: _Problems) -> list[_Source]:
    sources = []
    for key, (role, split, label) in MEMBERSHIP_SOURCES.items():
        if key in OPTIONAL_MEMBERSHIP and section.get(key) is None:
            continue
        if key in GLOB_LISTS and isinstance(section.get(key), list):
            sources += _glob_list(section[key], key, (role, split, label), problems)
            continue
        pattern = _glob_value(section, key, "membership", problems)
        if pattern is not None:
            sources.append(_Source(f"membership.{key}", pattern, role, split, label))
    return sources


def _glob_list(
    value: list, key: str, columns: tuple[str, str, str], problems: _Problems
) -> list[_Source]:
    """One source per glob of ``membership.{key}`` given as a list, each named by its folder
    (by its position where folders repeat), so names repeated across the folders stay apart."""
    if not value or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(_CONFIG, f"membership.{key}: a list must hold glob strings, got {value!r}")
        return []
    folders = [Path(pattern).parent.as_posix() for pattern in value]
    return [
        _Source(
            f"membership.{key}[{i}]",
            pattern,
            *columns,
            folder if folders.count(folder) == 1 and folder != "." else f"{key}{i}",
        )
        for i, (pattern, folder) in enumerate(zip(value, folders, strict=True))
    ]


def _attribution_sources(section: Mapping[str, Any], problems: _Problems) -> list[_Source]:
    sources = []
    generators = section.get("generators")
    if not isinstance(generators, Mapping):
        problems.add(
            _CONFIG,
            "attribution.generators: must map generator names to globs, e.g. "
            f"{{vae: train/vae/*.png, dcgan: train/dcgan/*.png}}; got {generators!r}",
        )
        generators = {}
    elif len(generators) < 2:
        problems.add(
            _CONFIG,
            f"attribution.generators: {len(generators)} generator(s) {list(generators)}; "
            "attribution needs at least 2, add a glob for each generator's training images",
        )
    for generator in sorted(generators, key=str):
        if not isinstance(generator, str) or not ID_PATTERN.fullmatch(generator):
            problems.add(
                _CONFIG,
                f"attribution.generators: name {generator!r} must be a string of {ID_RULE}; "
                "rename it (quote it in YAML)",
            )
            continue
        pattern = _glob_value(generators, generator, "attribution.generators", problems)
        if pattern is not None:
            key = f"attribution.generators.{generator}"
            sources.append(_Source(key, pattern, "generated", "train", generator))
    pattern = _glob_value(section, "test", "attribution", problems)
    if pattern is not None:
        sources.append(_Source("attribution.test", pattern, "generated", "test", ""))
    return sources


def _subset_sources(
    section: Mapping[str, Any], root: Path | None, problems: _Problems
) -> list[_Source]:
    """One source per subset folder of ``real`` and ``generated`` (the folder's name is the
    subset), then ``unknown``. Every labelled subset needs real images of its own: the real
    subsets are what the generated images are traced back to."""
    sources = []
    found: dict[str, list[str]] = {}
    for key in ("real", "generated"):
        pattern = _glob_value(section, key, "subsets", problems)
        if pattern is None or root is None:
            continue
        role, split = SUBSET_SOURCES[key]
        whole = _Source(f"subsets.{key}", pattern, role, split, "")
        folders = sorted({Path(path).parent for _, path in _resolve_one(root, whole)})
        if not folders:
            problems.add(_EMPTY, _empty_message(root, whole))
        names = Counter(folder.name for folder in folders)
        for folder in folders:
            subset = folder.name
            if names[subset] > 1 or not ID_PATTERN.fullmatch(subset):
                problems.add(
                    _CONFIG,
                    f"subsets.{key}: folder '{folder}' cannot name a subset (its name is "
                    f"{'shared by another folder' if names[subset] > 1 else 'not ' + ID_RULE}); "
                    f"give each subset one folder, e.g. {key}/<subset>/*.png",
                )
                continue
            inside = folder.relative_to(root) if folder.is_relative_to(root) else folder
            own = os.path.join(glob.escape(str(inside)), Path(pattern).name)
            name = f"{key}{ROLE_SEPARATOR}{subset}"
            sources.append(_Source(f"subsets.{key}.{subset}", own, role, split, subset, name))
        found[key] = sorted(names)
    if len(found.get("generated", [])) == 1:
        problems.add(
            _CONFIG,
            f"subsets.generated: one subset folder {found['generated']}; identification needs "
            "at least 2, one folder per subset (generated/<subset>/*.png)",
        )
    orphans = sorted(set(found.get("generated", [])) - set(found.get("real", [])))
    if "real" in found and orphans:
        problems.add(
            _CONFIG,
            f"subsets.generated: subset(s) {orphans} have no real images (real subsets: "
            f"{found['real']}); add real/<subset>/ folders or name the folders alike",
        )
    pattern = _glob_value(section, "unknown", "subsets", problems)
    if pattern is not None:
        sources.append(_Source("subsets.unknown", pattern, *SUBSET_SOURCES["unknown"], ""))
    return sources


# --- files and images -----------------------------------------------------------------------


def _resolve(plan: _Plan, problems: _Problems) -> list[tuple[_Source, str]]:
    """Glob each source (sorted; folders skipped); report sources matching no file."""
    found = []
    for source in plan.sources:
        matches = _resolve_one(plan.root, source)
        if not matches:
            problems.add(_EMPTY, _empty_message(plan.root, source))
        found += matches
    return found


def _resolve_one(root: Path, source: _Source) -> list[tuple[_Source, str]]:
    """The files ``source``'s glob matches under ``root`` (sorted; folders skipped)."""
    pattern = source.pattern
    if not os.path.isabs(pattern):
        pattern = os.path.join(glob.escape(str(root)), pattern)
    matches = sorted(p for p in glob.glob(pattern, recursive=True) if not os.path.isdir(p))
    return [(source, path) for path in matches]


def _empty_message(root: Path, source: _Source) -> str:
    """Explain why ``source`` matched nothing: its folder is missing or holds other names."""
    folder = root
    parts = Path(source.pattern).parts
    for part in parts[:-1]:
        if re.search(r"[*?\[]", part):
            break
        folder = folder / part
    try:
        if not folder.is_dir():
            detail = f"folder '{folder}' does not exist"
        else:
            names = sorted(os.listdir(folder))
            held = f"it holds {len(names)} entries, e.g. {names[:3]}" if names else "it is empty"
            detail = f"folder '{folder}' has no matching file ({held})"
    except PermissionError:
        detail = f"folder '{folder}' cannot be read (permission denied: chmod a+rx it)"
    return (
        f"{source.key}: glob '{source.pattern}' matches no file; {detail}; fix the glob "
        "(relative to root) or add the images"
    )


def _check_ids(found: list[tuple[_Source, str]], ids: list[str], problems: _Problems) -> None:
    """Ids (file stems) must use `ID_PATTERN`, each file must have one role, and a stem may
    appear once per source: within the test folder, one generator's folder, one role folder.
    (The same stem in two role folders names two images; ``ids``, from `_ids`, keep them
    apart, and must not give two sources' images one id.)"""
    by_path: dict[str, list[_Source]] = defaultdict(list)
    by_stem: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, path in found:
        by_path[path].append(source)
        by_stem[source.key, Path(path).stem].append(path)
    for path, sources in by_path.items():
        if len(sources) > 1:
            keys = " and ".join(source.key for source in sources)
            problems.add(
                _IDS,
                f"{path}: matched by the globs of both {keys}; make the globs disjoint so "
                "each image has one role",
            )
    for (key, id_), paths in by_stem.items():
        if not ID_PATTERN.fullmatch(id_):
            problems.add(
                _IDS, f"{paths[0]}: id (file stem) {id_!r} may contain {ID_RULE}; rename the file"
            )
        if len(paths) > 1:
            problems.add(
                _IDS,
                f"id {id_!r} is shared by {len(paths)} files of {key}: {', '.join(paths)}; "
                "file names must be unique within one role folder (glob), rename or remove all "
                "but one",
            )
    keys_of: dict[str, set[str]] = defaultdict(set)
    for (source, _), id_ in zip(found, ids, strict=True):
        keys_of[id_].add(source.key)
    for id_, keys in keys_of.items():
        if len(keys) > 1:  # e.g. a generator named "test" beside attribution.test
            problems.add(
                _IDS,
                f"id {id_!r} would name images of {' and '.join(sorted(keys))}; rename the "
                "generator so that no two sources share a name",
            )


def _check_images(
    paths: list[str], workers: int | None, problems: _Problems
) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """Decode each image once; return the shapes of the valid ones and which of them have one
    gray level only; report the invalid ones."""
    shapes, constant = {}, set()
    for path, result in zip(paths, thread_map(_probe, paths, workers), strict=True):
        if isinstance(result, str):
            problems.add(_IMAGES, result)
        else:
            shapes[path], flat = result
            if flat:
                constant.add(path)
    return shapes, constant


def _probe(path: str) -> tuple[tuple[int, int], bool] | str:
    """Return the shape of a valid image and whether it has one gray level, or the
    `InputError` message for an invalid one."""
    try:
        image = read_gray_png(path)
    except InputError as err:
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            return f"{path}: empty file (0 bytes), e.g. a broken copy; copy it again or remove it"
        return str(err)
    height, width = image.shape
    return (height, width), bool(image.min() == image.max())


def _check_sizes(paths: list[str], shapes: dict[str, tuple[int, int]], problems: _Problems) -> None:
    """All images must have one size; report those differing from the most common one."""
    counts = Counter(shapes.values())
    if len(counts) <= 1:
        return
    common, count = counts.most_common(1)[0]
    for path in paths:
        shape = shapes.get(path)
        if shape is not None and shape != common:
            problems.add(
                _SIZES,
                f"{path}: {size_text(shape)} but most images ({count} of {len(shapes)}) are "
                f"{size_text(common)}; resize it to {size_text(common)} or remove it",
            )


def _check_constant(
    found: list[tuple[_Source, str]],
    shapes: dict[str, tuple[int, int]],
    constant: set[str],
    problems: _Problems,
) -> None:
    """Images of one gray level (e.g. all black) carry no texture: a glob matching only such
    images is an error (their features would all be equal); fewer are kept, with one warning."""
    if not constant:
        return
    by_key: dict[str, list[str]] = defaultdict(list)
    for source, path in found:
        if path in shapes:
            by_key[source.key].append(path)
    refused = set()
    for key, paths in by_key.items():
        if all(path in constant for path in paths):
            refused.update(paths)
            problems.add(
                _CONSTANT,
                f"{key}: all {len(paths)} image(s) have one gray level (e.g. all black; first: "
                f"{paths[0]}), so their features would all be equal; check how they were "
                "exported (intensity window, bit depth) and replace them",
            )
    kept = sorted(constant - refused)
    if kept:
        warnings.warn(
            f"dataset '{problems.name}': {len(kept)} image(s) have one gray level (e.g. all "
            f"black), e.g. {kept[:3]}; kept, but they carry no texture: check them",
            stacklevel=3,
        )


# --- test labels ----------------------------------------------------------------------------


def _read_labels(
    plan: _Plan, found: list[tuple[_Source, str]], problems: _Problems
) -> dict[str, str] | None:
    """Read and check ``test_labels`` (``id,label``) against the test images; None if absent."""
    path = _labels_path(plan)
    if path is None:
        return None
    key = f"{plan.kind}.test_labels"
    if not path.is_file():
        problems.add(
            _LABELS, f"{key}: label file '{path}' not found; fix the path (relative to root)"
        )
        return None
    table = _label_table(path, problems)
    if table is None:
        return None
    labels = _label_rows(path, table, plan.kind, problems)
    test = [(source, p) for source, p in found if source.labelled_test]
    if test:
        _match_labels(path, labels, test, found, problems)
    if plan.kind == "subsets":
        subsets = {source.label for source in plan.sources if source.role == "generated"} - {""}
        strangers = sorted({label for label in labels.values() if label} - subsets)
        if strangers:
            problems.add(
                _LABELS,
                f"{path}: label(s) {strangers[:5]} name no subset of subsets.generated "
                f"({sorted(subsets)}); labels are the subset folders' names",
            )
    return labels


def _label_files(plan: _Plan) -> list[str]:
    """The test label file when it exists, else nothing."""
    labels = _labels_path(plan)
    return [str(labels)] if labels is not None and labels.is_file() else []


def _labels_path(plan: _Plan) -> Path | None:
    """The test label file: absolute, or relative to root; None when not configured."""
    if plan.labels_file is None:
        return None
    path = Path(plan.labels_file).expanduser()
    return path if path.is_absolute() else plan.root / path


def _label_table(path: Path, problems: _Problems) -> pd.DataFrame | None:
    """Parse the label file as CSV (TSV for ``*.tsv``) with an id column (`io.ID_COLUMNS`: id,
    file, filename or image) and a label column (`io.LABEL_COLUMNS`: label, model, generator
    or class), renamed ``id`` and ``label``: headers as people write them."""
    try:
        table = read_user_table(path)
    except PermissionError:
        problems.add(_LABELS, f"{path}: permission denied; make the file readable (chmod a+r)")
        return None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        problems.add(
            _LABELS, f"{path}: not a readable CSV ({err}); write a header 'id,label' then rows"
        )
        return None
    table, missing = named_columns(table, {"id": ID_COLUMNS, "label": LABEL_COLUMNS})
    if missing:
        problems.add(
            _LABELS,
            f"{path}: {'; '.join(missing)} (found {list(table.columns)}); the first line must "
            "be a header such as 'id,label' or 'file,model'",
        )
        return None
    return table


def _label_rows(path: Path, table: pd.DataFrame, kind: str, problems: _Problems) -> dict[str, str]:
    """Return ``{id: label}``; report empty ids, ids that are no file stem (a folder, a space),
    repeated ids and invalid labels.

    Ids are stripped, and a trailing ``.png`` (any case) is dropped so file names work too.
    """
    labels: dict[str, str] = {}
    repeated: set[str] = set()
    for row, (raw_id, raw_label) in enumerate(zip(table["id"], table["label"], strict=True), 1):
        id_, label = raw_id.strip(), raw_label.strip()
        if id_.lower().endswith(".png"):
            id_ = id_[:-4]
        if not id_:
            problems.add(_LABELS, f"{path}: data row {row} has an empty id; fill it in")
            continue
        if not ID_PATTERN.fullmatch(id_):
            problems.add(
                _LABELS,
                f"{path}: data row {row} has id {raw_id.strip()!r}: ids are file stems of "
                f"{ID_RULE}; write the file name without its folder",
            )
            continue
        if id_ in labels:
            repeated.add(id_)
        if kind == "membership" and label not in MEMBERSHIP_LABELS:
            problems.add(
                _LABELS,
                f"{path}: id {id_!r} has label {raw_label!r}; membership labels are 1 (used "
                "for training) or 0 (not used)",
            )
        elif not label:
            what = "subset" if kind == "subsets" else "generator"
            problems.add(_LABELS, f"{path}: id {id_!r} has an empty label; give its {what}'s name")
        labels[id_] = label
    for id_ in sorted(repeated):
        problems.add(_LABELS, f"{path}: id {id_!r} appears more than once; keep one row")
    return labels


def _match_labels(
    path: Path,
    labels: dict[str, str],
    test: list[tuple[_Source, str]],
    found: list[tuple[_Source, str]],
    problems: _Problems,
) -> None:
    """Every test image needs a label, and every label a test image."""
    test_ids = {Path(p).stem for _, p in test}
    key = test[0][0].key
    others = {
        Path(p).stem: f"a {'training' if source.split == 'train' else 'given'} image of "
        f"{source.key}"
        for source, p in found
        if not source.labelled_test
    }
    for id_ in labels:
        if id_ not in test_ids:
            where = f"it is {others[id_]}" if id_ in others else "no such file"
            problems.add(
                _LABELS,
                f"{path}: id {id_!r} is not a test image of {key} ({where}); remove the row "
                "or add the image",
            )
    for _, image in test:
        if Path(image).stem not in labels:
            problems.add(
                _LABELS,
                f"{image}: test image has no label in {path}; add a row "
                f"'{Path(image).stem},<label>' (every test image needs one)",
            )


# --- helpers --------------------------------------------------------------------------------


def _ids(found: list[tuple[_Source, str]]) -> list[str]:
    """The images' ids: their file stems, or ``tag/stem`` for every image when some stem
    appears in two sources (the task's data repeat names across role folders), so that ids stay
    unique within the dataset while `file_name` gives the user's name back."""
    stems = [Path(path).stem for _, path in found]
    sources_of: dict[str, set[str]] = defaultdict(set)
    for (source, _), stem in zip(found, stems, strict=True):
        sources_of[stem].add(source.key)
    if all(len(keys) == 1 for keys in sources_of.values()):
        return stems
    return [
        f"{source.tag}{ROLE_SEPARATOR}{stem}"
        for (source, _), stem in zip(found, stems, strict=True)
    ]


def _manifest(
    found: list[tuple[_Source, str]], ids: list[str], labels: dict[str, str] | None
) -> pd.DataFrame:
    rows = []
    for (source, path), id_ in zip(found, ids, strict=True):
        label = source.label
        if source.labelled_test and labels is not None:
            label = labels.get(Path(path).stem, "")
        rows.append((id_, path, source.role, source.split, label))
    return pd.DataFrame(rows, columns=list(COLUMNS), dtype=str)

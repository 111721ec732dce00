"""Groups of real images: the patient, series or block of neighbouring slices each belongs to.

CT slices of one patient, and neighbouring slices above all, are near-duplicates. A fold, a
reference set or a bootstrap that treats them as independent lets an image be recognised by its
labelled neighbour instead of through the generator, and gives intervals far too narrow (a null
generator's 95% interval excluded chance in 25 of 40 block-correlated simulations). So every
membership method takes one group key per real image (`membership.grouped_folds`,
`metrics.bootstrap_interval`, the attacks' leave-group-out references).

A dataset names its groups in a CSV (``id,group``; builds write one) or by a regex on the file
stems. Without either, groups are estimated (`near_duplicate_groups`): connected components of
the graph that links each real image to its nearest real neighbour when that neighbour is closer
than the typical (median) distance from a real image to its nearest generated image, in pixel
space. Two slices nearer to each other than real images are to anything the generator makes
are not independent evidence about the generator.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from medimprint.data.manifest import file_name
from medimprint.errors import InputError
from medimprint.io import ID_COLUMNS, named_columns, read_table, read_user_table

#: Columns of a dataset's groups table (``results/{dataset}/membership/groups.tsv``).
GROUP_COLUMNS = ("id", "group", "source")
#: Where a dataset's groups come from.
GROUP_SOURCES = ("file", "pattern", "near_duplicates")
FROM_FILE, FROM_PATTERN, ESTIMATED = GROUP_SOURCES
#: Alias of a file name that two role folders share (a group file must then give the path).
AMBIGUOUS = "\0ambiguous"
#: Side of the pixel space (area-averaged) used to estimate groups and by the controls.
PIXEL_SIZE = 64


def _stem(value: str) -> str:
    value = str(value).strip()
    return value[:-4] if value.lower().endswith(".png") else value


def read_group_file(
    path: str | os.PathLike, ids: Sequence[str], aliases: Mapping[str, str] | None = None
) -> pd.Series:
    """Groups (by id) of ``ids`` from a CSV (TSV for ``*.tsv``) with ``id`` and ``group``
    columns; ids may carry ``.png``, and a row may name its image by any of ``aliases``
    ({other name: id}, e.g. its file name or its path under the root). Every id must be listed
    exactly once."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: group file not found; fix membership.groups (a CSV 'id,group' relative "
            "to the dataset's root) or remove the key to estimate groups from near-duplicates"
        )
    try:
        table = read_user_table(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(
            f"{path}: not a readable CSV ({err}); write a header 'id,group' then one row per "
            "real image"
        ) from None
    table, missing = named_columns(table, {"id": ID_COLUMNS, "group": ("group",)})
    if missing:
        raise InputError(
            f"{path}: {'; '.join(missing)} (found {list(table.columns)}); the "
            "first line must be the header 'id,group'"
        )
    aliases = dict(aliases or {})
    named = table["id"].map(_stem)
    ambiguous = sorted(set(named[named.map(lambda key: aliases.get(key) == AMBIGUOUS)]))
    if ambiguous:
        raise InputError(
            f"{path}: {ambiguous[:3]} name real images of more than one role folder; write "
            "each row's file as its path under the dataset's root (e.g. real_used/a.png)"
        )
    keys = named.map(lambda key: aliases.get(key, key))
    repeated = sorted(set(keys[keys.duplicated()]))
    if repeated:
        raise InputError(f"{path}: ids listed more than once: {repeated[:5]}; keep one row each")
    empty = keys[table["group"].str.strip() == ""].tolist()
    if empty:
        raise InputError(f"{path}: empty group for {empty[:5]}; give every image a group")
    groups = pd.Series(table["group"].str.strip().to_numpy(), index=keys.to_numpy())
    missing = [i for i in ids if i not in groups.index]
    if missing:
        raise InputError(
            f"{path}: no group for {len(missing)} real images (first: {missing[:3]}); add a "
            "row 'id,group' for every real image (used, not used and test)"
        )
    return groups.loc[list(ids)]


def image_aliases(real: pd.DataFrame, root: str | os.PathLike) -> dict[str, str]:
    """{other name: id} of real manifest rows: each file name (`AMBIGUOUS` where two role
    folders share it) and each path under ``root`` without ``.png``, so a group file may name
    an image as the user knows it."""
    aliases: dict[str, str] = {}
    for image_id, image_path in zip(real["id"], real["path"], strict=True):
        name = file_name(image_id)
        if name != image_id:
            aliases[name] = AMBIGUOUS if name in aliases else image_id
        try:
            relative = Path(image_path).resolve().relative_to(Path(root).resolve())
        except ValueError:  # an absolute glob outside the root
            continue
        aliases[_stem(relative.as_posix())] = image_id
    return aliases


def pattern_groups(pattern: str, ids: Sequence[str]) -> pd.Series:
    """Groups (by id) from a regex searched in each id (file stem): the first capture group, or
    the whole match when the pattern has none."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        message = f"membership.groups.pattern: not a valid regex {pattern!r} ({err})"
        raise InputError(message) from None
    out = {}
    for image_id in ids:
        match = regex.search(file_name(image_id))
        if match is None:
            raise InputError(
                f"membership.groups.pattern {pattern!r} does not match the real image "
                f"{image_id!r}; write a pattern that finds the patient / series in every file "
                "name, or give a group file"
            )
        out[image_id] = match.group(1) if regex.groups else match.group(0)
    return pd.Series(out, dtype=str)


def load_pixels(paths: Sequence[str], size: int = PIXEL_SIZE) -> np.ndarray:
    """Images area-averaged to ``size`` squared, in [0, 1], one row each (the ``pixels``
    feature extractor's exact box means)."""
    from medimprint.data.manifest import load_images
    from medimprint.features.extractors import build_extractor

    return build_extractor("pixels", input_size=size)(load_images(paths)).astype(np.float64)


def near_duplicate_groups(real: np.ndarray, generated: np.ndarray, ids: Sequence[str]) -> pd.Series:
    """Groups (by id) of real images (rows of ``real``, pixel vectors) estimated as connected
    components of "nearest real neighbour closer than the median nearest-generated distance"
    (module docstring). Group keys are ``nd0000``, ``nd0001``, ... in order of first image."""
    from medimprint.membership.attacks import nearest_distances, nearest_rows

    real = np.asarray(real, dtype=np.float64)
    if len(real) != len(ids):
        raise ValueError(f"{len(real)} rows for {len(ids)} ids")
    if len(real) < 2:
        return pd.Series([f"nd{i:04d}" for i in range(len(ids))], index=list(ids), dtype=str)
    typical = float(np.median(nearest_distances(real, generated)))
    keys = list(range(len(real)))
    neighbour = nearest_rows(real, real, exclude_same=(keys, keys))
    distance = np.linalg.norm(real - real[neighbour], axis=1)
    link = distance < typical
    rows = np.flatnonzero(link)
    graph = coo_matrix((np.ones(len(rows)), (rows, neighbour[rows])), shape=(len(real), len(real)))
    _, component = connected_components(graph, directed=False)
    _, first = np.unique(component, return_index=True)
    order = {c: n for n, c in enumerate(component[np.sort(first)])}
    return pd.Series([f"nd{order[c]:04d}" for c in component], index=list(ids), dtype=str)


def dataset_groups(
    manifest: pd.DataFrame,
    spec: str | Mapping[str, str] | None,
    *,
    root: str | os.PathLike = ".",
    pixels: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The groups table (`GROUP_COLUMNS`) of a membership dataset's real images.

    ``spec`` is the dataset's ``membership.groups``: a CSV path (relative to ``root``), a
    mapping ``{pattern: regex}``, or None to estimate groups from near-duplicates in pixel
    space (``pixels`` = real rows in manifest order and generated rows, else loaded from the
    manifest's paths).
    """
    real = manifest[manifest["role"] == "real"]
    ids = real["id"].astype(str).tolist()
    if isinstance(spec, str):
        path = Path(spec).expanduser()
        path = path if path.is_absolute() else Path(root) / path
        groups = read_group_file(path, ids, image_aliases(real, root))
        source = FROM_FILE
    elif isinstance(spec, Mapping):
        groups, source = pattern_groups(str(spec["pattern"]), ids), FROM_PATTERN
    elif spec is None:
        if pixels is None:
            real = manifest.loc[manifest["role"] == "real", "path"].tolist()
            generated = manifest.loc[manifest["role"] == "generated", "path"].tolist()
            pixels = load_pixels(real), load_pixels(generated)
        groups, source = near_duplicate_groups(pixels[0], pixels[1], ids), ESTIMATED
    else:
        raise InputError(
            f"membership.groups: must be a CSV path or {{pattern: regex}}, got {spec!r}"
        )
    return pd.DataFrame({"id": ids, "group": groups.loc[ids].to_numpy(), "source": source})


def groups_by_id(table: pd.DataFrame) -> pd.Series:
    """Group by id from a groups table (`GROUP_COLUMNS`)."""
    return pd.Series(table["group"].to_numpy(), index=table["id"].to_numpy())


def read_groups(path: str | os.PathLike) -> pd.Series:
    """Group by id from a groups table written by the workflow."""
    return groups_by_id(read_table(path))

"""Groups of real images: the patient, series or block of neighbouring slices each belongs to.

CT slices of one patient, and neighbouring slices above all, are near-duplicates. A fold, a
reference set or a bootstrap that treats them as independent lets an image be recognised by its
labelled neighbour instead of through the generator, and gives intervals far too narrow (a null
generator's 95% interval excluded chance in 25 of 40 block-correlated simulations). So every
membership method takes one group key per real image (`membership.grouped_folds`,
`metrics.bootstrap_interval`, the attacks' leave-group-out references).

A dataset names its groups in a CSV (``id,group``; builds write one) or by a regex on the file
stems. Without either, groups are estimated: `segment_levels` cuts the stacks of slices into
contiguous segments at every coarseness, and `membership.controls.checked_groups` takes the
finest level under which labelled neighbours no longer tell a label (an estimate that splits a
block of neighbours flatters every figure; one that merges too much only costs power).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medimprint.data.manifest import file_name
from medimprint.errors import InputError
from medimprint.io import ID_COLUMNS, named_columns, read_table, read_user_table

#: Columns of a dataset's groups table (``results/{dataset}/membership/groups.tsv``).
GROUP_COLUMNS = ("id", "group", "source")
#: Where a dataset's groups come from.
GROUP_SOURCES = ("file", "pattern", "estimated")
FROM_FILE, FROM_PATTERN, ESTIMATED = GROUP_SOURCES
#: Alias of a file name that two role folders share (a group file must then give the path).
AMBIGUOUS = "\0ambiguous"
#: Nearest real images each image is linked to when a stack of slices is traced.
MANIFOLD_NEIGHBOURS = 3
#: Each coarser level of estimated groups has about this factor fewer groups.
LEVEL_FACTOR = 1.5


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
            "to the dataset's root) or remove the key to estimate groups from the slices"
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


def segment_levels(real: np.ndarray) -> list[np.ndarray]:
    """Nested partitions of real images (rows of pixel vectors) into pieces of the slice
    manifold, finest first: each image alone, then about `LEVEL_FACTOR` times fewer groups per
    level, down to 2.

    A piece is a connected run of neighbouring slices: Ward clustering under the connectivity of
    each image's `MANIFOLD_NEIGHBOURS` nearest real images (above and below it in its stack), so
    a stack is cut into contiguous segments rather than into the isolated pairs that linking
    each image to its single nearest neighbour gave (31% of adjacent slices split in a
    simulation of 10 patients x 30 slices). Levels come from one tree, so a coarser level only
    merges pieces of a finer one. Each level is an integer label per row.
    """
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.neighbors import kneighbors_graph

    real = np.asarray(real, dtype=np.float64)
    n = len(real)
    if n < 3:
        return [np.arange(n)]
    connectivity = kneighbors_graph(real, min(MANIFOLD_NEIGHBOURS, n - 1), include_self=False)
    with warnings.catch_warnings():  # several stacks: sklearn completes the graph, as wanted
        warnings.simplefilter("ignore", UserWarning)
        tree = AgglomerativeClustering(
            n_clusters=1, connectivity=connectivity, linkage="ward", compute_full_tree=True
        ).fit(real)
    sizes, size = [], float(n)
    while round(size) >= 2:
        if not sizes or round(size) < sizes[-1]:
            sizes.append(round(size))
        size /= LEVEL_FACTOR
    parent = np.arange(2 * n - 1)  # union-find over the tree's merges, applied in order

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    levels, merged = [], 0
    for size in sizes:
        while merged < n - size:
            a, b = tree.children_[merged]
            parent[root(a)] = parent[root(b)] = n + merged
            merged += 1
        _, labels = np.unique([root(i) for i in range(n)], return_inverse=True)
        levels.append(labels)
    return levels


def level_keys(labels: np.ndarray, ids: Sequence[str]) -> pd.Series:
    """Group keys (by id) of one level of `segment_levels`: ``seg0000``, ``seg0001``, ... in
    order of first image."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return pd.Series([f"seg{order[c]:04d}" for c in inverse], index=list(ids), dtype=str)


def given_groups(
    manifest: pd.DataFrame, spec: str | Mapping[str, str], *, root: str | os.PathLike = "."
) -> pd.DataFrame:
    """The groups table (`GROUP_COLUMNS`) of a membership dataset's real images from its
    ``membership.groups``: a CSV path (relative to ``root``) or a mapping ``{pattern: regex}``.
    (Without either, `membership.controls.checked_groups` estimates them.)"""
    real = manifest[manifest["role"] == "real"]
    ids = real["id"].astype(str).tolist()
    if isinstance(spec, str):
        path = Path(spec).expanduser()
        path = path if path.is_absolute() else Path(root) / path
        groups = read_group_file(path, ids, image_aliases(real, root))
        source = FROM_FILE
    elif isinstance(spec, Mapping):
        groups, source = pattern_groups(str(spec["pattern"]), ids), FROM_PATTERN
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

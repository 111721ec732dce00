"""Assign real slices to the membership pools of each database (used to train its generators, not
used), whole patients or blocks of neighbouring slices at a time, so that no group straddles two
pools: near-duplicate neighbours on both sides would flatter every membership figure."""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medimprint.errors import InputError

#: The membership status of a real slice in a database.
STATUSES = ("used", "not_used")


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

"""Two membership runs that are not attacks but tell what an attack must beat.

- ``labelled_neighbour``: the distance to the nearest labelled not-used image minus the distance
  to the nearest labelled used image, in pixel space. No generator is involved: when this
  control scores well, used and not-used images differ by themselves (two patients, two
  stretches of anatomy, neighbouring slices across the split), and an attack's score says
  nothing about leakage through the generator.
- ``nearest_generated``: minus the plain distance to the nearest generated image in pixel space,
  without calibration: the simplest attack, the bar a cleverer one has to clear.

Both work on the images area-averaged to `features.extractors.PIXEL_SIZE` squared
(`load_pixels`).
Labelled images are scored against the labelled images outside their group
(`medimprint.data.groups`), as a test image without neighbours among them would be.

The labelled-neighbour control also checks the groups themselves (`checked_groups`): under
groups that keep each block of neighbouring slices whole, a labelled image's nearest labelled
images outside its group tell nothing of its label, so the control's grouped AUC sits at chance.
Estimated groups are coarsened until it does; given groups are checked, and the answer's nested
figure and verdict are withheld where the check fails (`membership.selection`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from medimprint.data.groups import ESTIMATED, given_groups, level_keys, segment_levels
from medimprint.data.views import (
    MembershipView,
    generated_ids,
    training_labels,
)
from medimprint.evaluation import bootstrap_interval
from medimprint.membership.decisions import ScoredRun, decide
from medimprint.membership.folds import exclusion_keys, groups_per_class
from medimprint.membership.metrics import auc
from medimprint.neighbours import nearest_distances

#: Columns of a dataset's groups check (``membership/groups_check.tsv``): one row per level of
#: estimated groups tried, finest first (one row for given groups).
CHECK_COLUMNS = (
    "level",
    "groups",
    "used_groups",
    "not_used_groups",
    "neighbour_auc",
    "neighbour_auc_low",
    "neighbour_auc_high",
    "at_chance",
    "chosen",
)


def labelled_neighbour_scores(
    query: np.ndarray,
    train_x: np.ndarray,
    labels: np.ndarray,
    query_keys: Sequence | None = None,
    train_keys: Sequence | None = None,
) -> np.ndarray:
    """``d(nearest labelled not-used) - d(nearest labelled used)`` of each query row (higher:
    nearer a used image); with keys (ids or groups), labelled rows sharing the query's key are
    left out."""
    labels = np.asarray(labels, dtype=int)
    out = []
    for cls in (0, 1):
        rows = train_x[labels == cls]
        exclude = None
        if query_keys is not None and train_keys is not None:
            exclude = (list(query_keys), list(np.asarray(train_keys)[labels == cls]))
        out.append(nearest_distances(query, rows, exclude_same=exclude))
    return out[0] - out[1]


def nearest_generated_scores(query: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Minus the distance of each query row to its nearest generated row."""
    return -nearest_distances(query, generated)


def run_controls(
    manifest: pd.DataFrame,
    pixels: pd.DataFrame,
    groups: pd.Series | None,
    *,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> dict[str, ScoredRun]:
    """Both controls on a membership dataset (``pixels``: one row per image of the manifest,
    indexed by id)."""
    view = MembershipView.of(manifest, groups)
    train, test = view.train, view.test
    train_x, test_x = pixels.loc[train["id"]].to_numpy(), pixels.loc[test].to_numpy()
    labels = train["label"].to_numpy()
    train_keys = exclusion_keys(groups, train)
    gen_x, gen_test_x = (
        pixels.loc[generated_ids(manifest, split)].to_numpy() for split in ("train", "test")
    )
    scores = {
        "labelled_neighbour": (
            labelled_neighbour_scores(train_x, train_x, labels, train_keys, train_keys),
            labelled_neighbour_scores(test_x, train_x, labels),
        ),
        "nearest_generated": (
            nearest_generated_scores(train_x, gen_x),
            nearest_generated_scores(test_x, gen_test_x),
        ),
    }
    return {
        name: decide(
            view,
            train_scores,
            test_scores,
            folds=folds,
            seed=seed,
            n_boot=n_boot,
            # against a test generator, the baseline's threshold transfers by rank
            transfer=name == "nearest_generated" and view.test_generator,
        )
        for name, (train_scores, test_scores) in scores.items()
    }


def neighbour_check(
    train_x: np.ndarray, labels: np.ndarray, keys: np.ndarray, *, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """The labelled-neighbour control's AUC on the labelled images, each scored without its
    group (``keys``), with its grouped bootstrap interval: at chance when the groups keep
    neighbours whole."""
    labels = np.asarray(labels, dtype=int)
    scores = labelled_neighbour_scores(train_x, train_x, labels, keys, keys)
    return bootstrap_interval(auc, labels, scores, n_boot=n_boot, seed=seed, groups=keys)


#: How far above 0.5 the labelled-neighbour control's AUC may lie and still count as at chance
#: (with its interval reaching 0.5): a wide interval of few groups alone would pass a leak.
CHANCE_MARGIN = 0.1


def at_chance(interval: tuple[float, float, float]) -> bool:
    """Whether a grouped AUC interval ``(value, low, high)`` shows no leak through labelled
    neighbours: its lower end at or below 0.5 and its value at most `CHANCE_MARGIN` above.
    One-sided: where blocks of the pools alternate without gaps, the nearest labelled image
    outside a whole block often lies across a boundary, in a block of the other label, so the
    control sits below chance under the true blocks too; that flatters no figure."""
    value, low, _ = interval
    return bool(low <= 0.5 and value <= 0.5 + CHANCE_MARGIN)


def checked_groups(
    manifest: pd.DataFrame,
    pixels: pd.DataFrame,
    spec: str | Mapping[str, str] | None,
    *,
    root: str | os.PathLike = ".",
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A membership dataset's groups table (`data.groups.GROUP_COLUMNS`) and their check
    (`CHECK_COLUMNS`). ``pixels``: one row per real image, indexed by id.

    Given groups (``spec``: `data.groups.given_groups`) are checked as they are. Without them,
    the levels of `data.groups.segment_levels` are tried finest first and the first whose
    labelled-neighbour control is at chance is chosen; where none is (before a class would
    drop below 2 groups), the coarsest tried is kept and its check says so."""
    train = training_labels(manifest)
    labels = train["label"].to_numpy(dtype=int)
    real_ids = manifest.loc[manifest["role"] == "real", "id"].astype(str).tolist()
    train_x = pixels.loc[train["id"]].to_numpy(dtype=np.float64)
    if spec is not None:
        table = given_groups(manifest, spec, root=root)
        levels = [table.set_index("id")["group"]]
    else:
        table = None
        levels = [
            level_keys(level, real_ids)
            for level in segment_levels(pixels.loc[real_ids].to_numpy(dtype=np.float64))
        ]
    rows, chosen = [], None
    for number, groups in enumerate(levels):
        keys = groups.loc[train["id"]].to_numpy()
        not_used, used = groups_per_class(labels, keys)
        if min(not_used, used) < 2 and rows:
            break
        interval = neighbour_check(train_x, labels, keys, n_boot=n_boot, seed=seed)
        rows.append(
            {
                "level": number if spec is None else "given",
                "groups": int(groups.nunique()),
                "used_groups": used,
                "not_used_groups": not_used,
                "neighbour_auc": interval[0],
                "neighbour_auc_low": interval[1],
                "neighbour_auc_high": interval[2],
                "at_chance": at_chance(interval),
                "chosen": False,
            }
        )
        chosen = number
        if rows[-1]["at_chance"]:
            break
    rows[-1]["chosen"] = True
    if table is None:
        table = pd.DataFrame(
            {"id": real_ids, "group": levels[chosen].loc[real_ids].to_numpy(), "source": ESTIMATED}
        )
    return table, pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def check_passed(check: pd.DataFrame) -> bool:
    """Whether the chosen row of a groups check (`CHECK_COLUMNS`, as written or read back as
    text) is at chance."""
    chosen = check[check["chosen"].astype(str) == "True"]
    return bool(len(chosen)) and bool((chosen["at_chance"].astype(str) == "True").all())

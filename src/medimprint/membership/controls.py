"""Two membership runs that are not attacks but tell what an attack must beat.

- ``labelled_neighbour``: the distance to the nearest labelled not-used image minus the distance
  to the nearest labelled used image, in pixel space. No generator is involved: when this
  control scores well, used and not-used images differ by themselves (two patients, two
  stretches of anatomy, neighbouring slices across the split), and an attack's score says
  nothing about leakage through the generator.
- ``nearest_generated``: minus the plain distance to the nearest generated image in pixel space,
  without calibration: the simplest attack, the bar a cleverer one has to clear.

Both work on the images area-averaged to `groups.PIXEL_SIZE` squared (`groups.load_pixels`).
Labelled images are scored against the labelled images outside their group
(`medimprint.data.groups`), as a test image without neighbours among them would be.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from medimprint.membership.attacks import nearest_distances
from medimprint.membership.decisions import (
    ScoredRun,
    decide,
    exclusion_keys,
    real_test_ids,
    real_test_labels,
    training_labels,
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
    train, test = training_labels(manifest), real_test_ids(manifest)
    generated = manifest.loc[manifest["role"] == "generated", "id"].tolist()
    train_x, test_x = pixels.loc[train["id"]].to_numpy(), pixels.loc[test].to_numpy()
    labels = train["label"].to_numpy()
    train_keys = exclusion_keys(groups, train)
    gen_x = pixels.loc[generated].to_numpy()
    scores = {
        "labelled_neighbour": (
            labelled_neighbour_scores(train_x, train_x, labels, train_keys, train_keys),
            labelled_neighbour_scores(test_x, train_x, labels),
        ),
        "nearest_generated": (
            nearest_generated_scores(train_x, gen_x),
            nearest_generated_scores(test_x, gen_x),
        ),
    }
    truth = real_test_labels(manifest)
    return {
        name: decide(
            train,
            train_scores,
            test,
            test_scores,
            truth,
            folds=folds,
            seed=seed,
            n_boot=n_boot,
            groups=groups,
        )
        for name, (train_scores, test_scores) in scores.items()
    }

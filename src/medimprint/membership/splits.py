"""A membership dataset's features by role: generated, labelled real and test real rows, each
split standardised by the generated images it is scored against (which needs no label)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from medimprint.data.views import generated_ids, has_test_generator, real_test_ids, training_labels
from medimprint.errors import InputError


@dataclass
class FeatureSplits:
    """A membership dataset's features by role: the generated images each split is scored
    against (``generated``, ``generated_test``: the same rows without a test generator),
    labelled real training images (``train``: id, label) and real test images (``test`` ids),
    rows in those orders."""

    generated: np.ndarray
    train: pd.DataFrame
    train_x: np.ndarray
    test: list[str]
    test_x: np.ndarray
    generated_test: np.ndarray
    #: the labelled rows in the test split's scale (what test images are compared with)
    train_x_as_test: np.ndarray
    #: whether the test split has generated images of its own
    test_generator: bool


def feature_splits(
    manifest: pd.DataFrame, ids: list[str], features: np.ndarray, *, standardise: bool = True
) -> FeatureSplits:
    """Rows of ``features`` (named by ``ids``) for the generated, labelled training and test
    images, in float64; with ``standardise``, each split z-scored by the statistics of the
    generated images it is scored against (which need no label)."""
    table = pd.DataFrame(np.asarray(features, dtype=np.float64), index=pd.Index(ids))
    train, test = training_labels(manifest), real_test_ids(manifest)
    test_generator = has_test_generator(manifest)
    parts = {}
    for split in ("train", "test") if test_generator else ("train",):
        generated = generated_ids(manifest, split)
        if len(generated) < 2:
            raise InputError(
                f"membership needs at least 2 generated images for its {split} split, got "
                f"{len(generated)}"
            )
        rows = [table.loc[generated], table.loc[train["id"]], table.loc[test]]
        parts[split] = [part.to_numpy() for part in rows]
        if standardise:
            scaler = StandardScaler().fit(parts[split][0])
            parts[split] = [scaler.transform(part) for part in parts[split]]
    # without a test generator both splits are scored against (and scaled by) the same rows
    gen, train_x, _ = parts["train"]
    gen_test, train_x_as_test, test_x = parts.get("test", parts["train"])
    return FeatureSplits(
        gen, train, train_x, test, test_x, gen_test, train_x_as_test, test_generator
    )

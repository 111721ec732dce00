"""Every method of training-subset identification on one feature space, and their metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score

from medimprint.data.views import SubsetsView
from medimprint.errors import InputError
from medimprint.evaluation import bootstrap_interval
from medimprint.io import row_positions
from medimprint.names import subset_run_id
from medimprint.subsets.classifiers import SubsetData, cross_validated, predict

#: Columns of a predictions table: the run, the image, ``train`` (out-of-fold, labelled images)
#: or ``test`` (unknown images), the subset given.
PREDICTION_COLUMNS = ["run", "id", "split", "predicted"]

Metrics = dict[str, tuple[float, float, float]]


def subset_data(view: SubsetsView, ids: Sequence[str], features: np.ndarray) -> SubsetData:
    """The view's images in one feature space (rows of ``features`` named by ``ids``)."""
    wanted = [*view.labelled["id"], *view.unknown, *view.real["id"]]
    rows, missing = row_positions(list(ids), wanted)
    if missing:
        raise InputError(
            f"the feature store lacks {len(missing)} image(s) of the manifest, e.g. "
            f"{missing[:3]}; delete the store so the workflow rebuilds it"
        )
    x = np.asarray(features, dtype=np.float64)[rows]
    n_lab, n_unknown = len(view.labelled), len(view.unknown)
    return SubsetData(
        x[:n_lab],
        view.labelled["subset"].to_numpy(),
        x[n_lab : n_lab + n_unknown],
        x[n_lab + n_unknown :],
        view.real["subset"].to_numpy(),
    )


def run_space(
    view: SubsetsView,
    ids: Sequence[str],
    features: np.ndarray,
    space: str,
    methods: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Every method's subsets in one space: out-of-fold for the labelled images (``train``),
    learned from all of them for the unknown ones (``test``); `PREDICTION_COLUMNS`."""
    data = subset_data(view, ids, features)
    everything = np.arange(len(data.labels))
    frames = []
    for method in methods:
        run = subset_run_id(method, space)
        oof = cross_validated(method, data, folds=folds, seed=seed)
        test = predict(method, data, everything, seed=seed)
        for split, names, predicted in (
            ("train", view.labelled["id"], oof),
            ("test", view.unknown, test),
        ):
            frames.append(
                pd.DataFrame(
                    {"run": run, "id": list(names), "split": split, "predicted": predicted}
                )
            )
    return pd.concat(frames, ignore_index=True).loc[:, PREDICTION_COLUMNS]


def run_metrics(
    predictions: pd.DataFrame, view: SubsetsView, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Metrics]:
    """``{run: {metric: (value, low, high)}}``: accuracy on the labelled images out of fold
    (``accuracy_train``) and, with test labels, on the unknown ones (``accuracy_test``), with
    95% bootstrap intervals over images (each generated image is its own draw of its
    generator), and the chance level (one over the number of subsets)."""
    truth = {
        "train": pd.Series(view.labelled["subset"].to_numpy(), index=view.labelled["id"]),
        "test": view.truth,
    }
    nan = float("nan")
    out: dict[str, Metrics] = {}
    for run, rows in predictions.groupby("run", sort=False):
        metrics: Metrics = {"chance": (1.0 / len(view.subsets), nan, nan)}
        for split, labels in truth.items():
            part = rows[rows["split"] == split]
            if labels is None or part.empty:
                continue
            metrics[f"accuracy_{split}"] = bootstrap_interval(
                accuracy_score,  # the task's measure: the share given their true subset
                labels.loc[part["id"]].to_numpy(),
                part["predicted"].to_numpy(),
                n_boot=n_boot,
                seed=seed,
            )
        out[str(run)] = metrics
    return out

"""The answer of training-subset identification: the run chosen on the labelled images alone,
its confusion matrix and the task's submission file."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from medimprint.data.views import SubsetsView
from medimprint.names import SUBSET_METHODS, parse_subset_run_id

#: The task's submission columns (the organisers' 2025 script): one row per unknown image.
SUBMISSION_COLUMNS = ["image_path", "predicted_class"]


def choose(metrics: pd.DataFrame) -> str:
    """The run of highest out-of-fold accuracy on the labelled images; ties go to the simpler
    method (`SUBSET_METHODS` order), then to the space named first. No test label is read."""
    train = metrics[metrics["metric"] == "accuracy_train"]
    if train.empty:
        raise ValueError("no subsets run has a training accuracy to choose by")
    order = {method: i for i, method in enumerate(SUBSET_METHODS)}
    ranked = sorted(
        train.itertuples(index=False),
        key=lambda row: (-row.value, order[parse_subset_run_id(row.run)[0]]),
    )
    return str(ranked[0].run)


def confusion(truth: pd.Series, predicted: pd.Series, subsets: Sequence[str]) -> pd.DataFrame:
    """Images per true subset (rows) and subset given (columns)."""
    table = pd.crosstab(
        pd.Categorical(truth.loc[predicted.index], categories=subsets),
        pd.Categorical(predicted, categories=subsets),
        dropna=False,
    )
    table.index.name, table.columns.name = "true", "predicted"
    return table


def submission(predicted: pd.Series, manifest: pd.DataFrame) -> pd.DataFrame:
    """``image_path,predicted_class`` for the unknown images (``predicted``: subset by id),
    each image by its file name as shipped, sorted."""
    names = manifest.set_index("id")["path"].map(os.path.basename)
    table = pd.DataFrame(
        {
            SUBMISSION_COLUMNS[0]: names.loc[predicted.index].to_numpy(),
            SUBMISSION_COLUMNS[1]: predicted.to_numpy(),
        }
    )
    return table.sort_values(SUBMISSION_COLUMNS[0]).reset_index(drop=True)


def answer_row(dataset: str, run: str, metrics: pd.DataFrame, view: SubsetsView) -> pd.DataFrame:
    """One row: the chosen run, its out-of-fold and test accuracy, the chance level and the
    spread of every run's test accuracy (what the choice was made among)."""
    of = metrics[metrics["run"] == run].set_index("metric")
    test = metrics[metrics["metric"] == "accuracy_test"]["value"]
    nan = float("nan")

    def cell(metric: str, column: str = "value") -> float:
        return float(of.loc[metric, column]) if metric in of.index else nan

    row = {
        "dataset": dataset,
        "run": run,
        "subsets": len(view.subsets),
        "labelled": len(view.labelled),
        "unknown": len(view.unknown),
        "accuracy_train": cell("accuracy_train"),
        "accuracy_test": cell("accuracy_test"),
        "accuracy_test_low": cell("accuracy_test", "ci_low"),
        "accuracy_test_high": cell("accuracy_test", "ci_high"),
        "chance": 1.0 / len(view.subsets),
        "runs": int(metrics["run"].nunique()),
        "runs_test_min": float(test.min()) if len(test) else nan,
        "runs_test_median": float(np.median(test)) if len(test) else nan,
        "runs_test_max": float(test.max()) if len(test) else nan,
    }
    return pd.DataFrame([row])

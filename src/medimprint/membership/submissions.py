"""The task's membership submission files: ``<file name>,<0|1>`` per test image."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from medimprint.data.manifest import file_name
from medimprint.io import write_table


def submission(ids: list[str], decisions: np.ndarray) -> pd.DataFrame:
    """The task's submission rows, ``<file name>,<0|1>`` (write without a header), sorted by
    name; every test image exactly once, named as the user's file is (`data.manifest.file_name`)."""
    names = [file_name(image_id) for image_id in ids]
    if len(set(names)) != len(names):
        raise ValueError("duplicate image names in a membership submission")
    rows = pd.DataFrame({"id": names, "used": np.asarray(decisions, dtype=int)})
    return rows.sort_values("id").reset_index(drop=True)


def write_run(
    scores: pd.DataFrame, scores_path: str | os.PathLike, submission_path: str | os.PathLike
) -> None:
    """Write a run's per-image table and the task's submission of its test rows (no header)."""
    write_table(scores_path, scores)
    tested = scores[scores["split"] == "test"]
    write_table(submission_path, submission(tested["id"].tolist(), tested["used"]), header=False)

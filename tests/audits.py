"""Candidates of a simulated membership audit, shared by the selection tests: every inner
setting of the attack runs, and pure-noise candidates that tempt the choice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from medimprint.membership.runs import run_attack
from medimprint.membership.selection import candidate_table


def attack_candidates(
    manifest: pd.DataFrame, features: pd.DataFrame, groups: pd.Series, attacks: Sequence[str]
) -> list[pd.DataFrame]:
    """The candidates of each attack run in the feature space (named ``pixels``)."""
    ids, x = features.index.tolist(), features.to_numpy()
    return [
        run_attack(manifest, ids, x, attack, space="pixels", groups=groups, n_boot=0)[0].candidates
        for attack in attacks
    ]


def noise_candidates(
    rng: np.random.Generator, train: pd.DataFrame, test: Sequence[str], n: int
) -> list[pd.DataFrame]:
    """``n`` candidates of pure noise (``noise/{j}``), training rows then test rows."""
    return [
        candidate_table(
            f"noise/{j}", train["id"], rng.normal(size=len(train)), test, rng.normal(size=len(test))
        )
        for j in range(n)
    ]

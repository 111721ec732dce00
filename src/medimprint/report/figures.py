"""What every figure of the report shares: how it is written."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from medimprint.io import atomic_path


def save_figure(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG at one resolution for every report figure, atomically (a killed
    job leaves no half-written figure)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")

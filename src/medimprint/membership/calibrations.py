"""Calibrations of the distance to the nearest generated image that read no label, so that no
labelled neighbour can give one away and each stays a candidate of the answer under estimated
groups (`membership.selection`):

- `shift_calibrated_scores`: the distance to the generated set of an image against that of its
  shifted copies, a per-image calibration in the spirit of LiRA;
- `aligned_nearest_scores`: the nearest generated image under a distance blind to what
  separates a generated slice from its training slice (intensity window, a pixel's shift);
- `real_calibrated_scores`: the nearest-generated distance against the local spacing of the
  real images themselves, GAN-Leaks' calibration with every real image as the reference.

The ``*_variants`` functions give every setting a run offers from distances computed once.
Pure functions: arrays in, arrays out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from medimprint.errors import InputError
from medimprint.neighbours import as_rows, nearest_distances

#: Shifts (pixels of the pixel space) of `shift_calibrated_scores`: candidates of the selection.
SHIFTS = (1, 2)
_TINY = np.finfo(np.float64).tiny
#: Largest shift (pixels of the pixel space) over which `aligned_nearest_scores` takes the
#: minimum: candidates of the selection (0: intensity window only).
ALIGN_SHIFTS = (0, 1)
#: How `real_calibrated_scores` sets the distance to the nearest other real image against that
#: to the nearest generated one: candidates of the selection.
REAL_CALIBRATIONS = {
    "difference": lambda d_real, d_gen: d_real - d_gen,
    "log_ratio": lambda d_real, d_gen: (
        np.log(np.maximum(d_real, _TINY)) - np.log(np.maximum(d_gen, _TINY))
    ),
}


def _square_images(rows: np.ndarray, attack: str) -> np.ndarray:
    """Rows of pixels as ``N x side x side`` images, or an error naming the pixel space."""
    rows = as_rows(rows, "query")
    side = math.isqrt(rows.shape[1])
    if side * side != rows.shape[1]:
        raise InputError(
            f"{attack}: features of {rows.shape[1]} values are no square image; run it in a "
            "pixel space (backbone 'pixels')"
        )
    return rows.reshape(len(rows), side, side)


def shift_calibrated_scores(
    query: np.ndarray, generated: np.ndarray, *, shift: int = 1
) -> np.ndarray:
    """Per-image difficulty calibration without a reference set (in the spirit of LiRA,
    Carlini et al. 2022): the mean distance to the nearest generated image of the image moved
    by ``shift`` pixels up, down, left and right, minus that of the image itself. A generator
    that reproduces this very slice is much nearer to it than to its shifted copies; for an
    image it never saw, the gap is that of any aligned slice. Needs no labelled image, so no
    labelled neighbour can give it away."""
    images = _square_images(query, "shift calibration")
    own = nearest_distances(query, generated)
    moved = [
        nearest_distances(np.roll(images, step, axis=axis).reshape(len(query), -1), generated)
        for axis in (1, 2)
        for step in (shift, -shift)
    ]
    return np.mean(moved, axis=0) - own


def _window_normalised(rows: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm: their Euclidean distance is a monotone function of
    the Pearson correlation, blind to a window's level and width."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.where(norms > 0, norms, 1.0)


def aligned_nearest_variants(
    query: np.ndarray, generated: np.ndarray, shifts: Sequence[int] = ALIGN_SHIFTS
) -> dict[int, np.ndarray]:
    """`aligned_nearest_scores` at every largest shift of ``shifts``, each move's nearest
    distance computed once (a larger shift's minimum includes every smaller one's moves)."""
    query = as_rows(query, "query")
    largest = max(shifts)
    images = _square_images(query, "aligned nearest") if largest else None
    generated = _window_normalised(as_rows(generated, "generated"))

    def moved(move: tuple[int, int]) -> np.ndarray:
        if move == (0, 0):
            return query
        return np.roll(images, move, axis=(1, 2)).reshape(len(query), -1)

    steps = range(-largest, largest + 1)
    distances = {
        move: nearest_distances(_window_normalised(moved(move)), generated)
        for move in itertools.product(steps, steps)
    }
    return {
        shift: -np.min([d for m, d in distances.items() if max(map(abs, m)) <= shift], axis=0)
        for shift in shifts
    }


def aligned_nearest_scores(
    query: np.ndarray, generated: np.ndarray, *, shift: int = 1
) -> np.ndarray:
    """Minus the distance to the nearest generated image, minimised over every move of the
    image by up to ``shift`` pixels in each direction, each image normalised first
    (`_window_normalised`). A generator reproduces a training slice up to a slight shift and a
    different intensity window; a raw pixel distance counts both as difference, so a copy can
    look farther than an unrelated slice of the same level. Label free."""
    return aligned_nearest_variants(query, generated, (shift,))[shift]


def real_calibrated_variants(
    query: np.ndarray,
    generated: np.ndarray,
    real: np.ndarray,
    query_keys: Sequence,
    real_keys: Sequence,
) -> dict[str, np.ndarray]:
    """`real_calibrated_scores` under every calibration of `REAL_CALIBRATIONS`, from one pair
    of nearest distances."""
    d_gen = nearest_distances(query, generated)
    d_real = nearest_distances(query, real, exclude_same=(query_keys, real_keys))
    if not np.isfinite(d_real).all():
        raise InputError(
            "real calibration: an image has no real image outside its group; it needs real "
            "images of at least two groups"
        )
    return {name: calibrate(d_real, d_gen) for name, calibrate in REAL_CALIBRATIONS.items()}


def real_calibrated_scores(
    query: np.ndarray,
    generated: np.ndarray,
    real: np.ndarray,
    query_keys: Sequence,
    real_keys: Sequence,
    *,
    calibration: str = "difference",
) -> np.ndarray:
    """The distance to the nearest real image outside the query's group (patient, block)
    against the distance to the nearest generated image: ``d_real - d_gen`` (``difference``)
    or ``log(d_real / d_gen)`` (``log_ratio``). Near a slice of an anatomy that many scans
    share, every generator lands close; the real images' own spacing there says how close
    is unremarkable. Unlike GAN-Leaks' reference, ``real`` is every real image of the split,
    used or not, so no label enters the score and no labelled neighbour can give one away."""
    if calibration not in REAL_CALIBRATIONS:
        raise InputError(
            f"unknown calibration {calibration!r}; use one of {tuple(REAL_CALIBRATIONS)}"
        )
    return real_calibrated_variants(query, generated, real, query_keys, real_keys)[calibration]

"""Frequency-domain generator fingerprints (numpy/scipy only, no torch).

Generators leave periodic traces of their upsampling layers in the image spectrum. Four
fingerprints, each a fixed-length float32 vector whatever the image size:

- ``spectrum``: azimuthally averaged log power spectrum (Durall et al. 2020).
- ``dct``: mean log-magnitude of the 64 coefficients of the 8x8 block DCT (Frank et al. 2020,
  computed JPEG-style on blocks so it stays aligned with a generator's pixel grid).
- ``spectrum_residual``, ``dct_residual``: the same on the noise residual (Marra et al. 2019),
  the image minus its 3x3 median filter (the spectrum without a window, see `Fingerprint`).

Shared conventions: pixels are scaled to [0, 1] and each image's mean is subtracted;
transforms are orthonormal, so a power (or magnitude) does not scale with the image size; logs
take ``log(power + EPS_POWER)`` or ``log(|c| + EPS_MAGNITUDE)``, so constant images and exact
spectral nulls give finite values; each feature vector has its own mean subtracted (removes the
overall contrast, keeps the shape).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy
import scipy.fft

from medimprint.errors import InputError

#: Floor added to the power before the log: about the power of uint8 quantisation noise,
#: (1/255)^2 / 12 = 1.3e-6 on the [0, 1] scale, below which a uint8 image carries no signal.
EPS_POWER = 1e-6
#: The same floor for DCT magnitudes (its square root).
EPS_MAGNITUDE = 1e-3
#: Smallest image side the fingerprints accept.
MIN_SIDE = 8
#: Side of the DCT blocks.
BLOCK = 8

# ------------------------------------------------------------------------------ residual


# fmt: off
#: Paeth's median-of-9 exchange network: after these 19 (min, max) exchanges, item 4 is the median.
_MEDIAN9 = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)
# fmt: on


def _median9(values: list[np.ndarray]) -> np.ndarray:
    """Element-wise median of nine equal-shaped arrays."""
    p = list(values)
    for i, j in _MEDIAN9:
        p[i], p[j] = np.minimum(p[i], p[j]), np.maximum(p[i], p[j])
    return p[4]


def median3x3(images: np.ndarray) -> np.ndarray:
    """3x3 median filter of each image of ``N x H x W``, borders mirrored.

    Equals ``scipy.ndimage.median_filter(images, size=(1, 3, 3))`` (mode ``reflect``), several
    times faster.
    """
    height, width = images.shape[1:]
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="symmetric")
    shifts = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
    return _median9(shifts)


def noise_residual(images: np.ndarray) -> np.ndarray:
    """Image minus its 3x3 median filter, float32 on the [0, 1] pixel scale.

    A median (not a linear filter) on purpose: a linear denoiser's residual spectrum is the
    image spectrum times a fixed transfer function, i.e. a constant offset of the log spectrum,
    which carries no new information.
    """
    return (images.astype(np.float32) - median3x3(images).astype(np.float32)) / 255


def _prepare(images: np.ndarray, residual: bool) -> np.ndarray:
    """uint8 ``N x H x W`` -> float32 on the [0, 1] scale, each image's mean subtracted."""
    x = noise_residual(images) if residual else images.astype(np.float32) / 255
    mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)  # exact for constant images
    return (x - mean).astype(np.float32)


# ------------------------------------------------------------------------------ spectrum


@functools.lru_cache(maxsize=16)
def _hann(height: int, width: int) -> np.ndarray:
    """2-D Hann window with unit mean power (so windowing keeps the power level)."""
    window = np.outer(np.hanning(height), np.hanning(width))
    return (window / np.sqrt(np.mean(window**2))).astype(np.float32)


def _ring_to_bins(n_rings: int, side: int, n_bins: int) -> np.ndarray:
    """Area-weighted resampling ``n_rings x n_bins`` of a ring profile onto frequency bands.

    Ring ``r`` (1..n_rings) covers frequencies ``[(r - 1/2) / side, (r + 1/2) / side)`` in
    cycles/pixel (ring 1 down to 0, the last ring up to 0.5); band ``b`` is centred on
    ``(b + 1) / (2 n_bins)`` with width ``1 / (2 n_bins)``, clipped to 0.5. Each band averages
    the rings it overlaps, weighted by the overlap, so the rings tile (0, 0.5] and every band
    gets a value, whether there are more rings than bands or fewer.
    """
    r = np.arange(1, n_rings + 1)
    ring_lo = np.where(r == 1, 0.0, (r - 0.5) / side)
    ring_hi = np.where(r == n_rings, 0.5, (r + 0.5) / side)
    centre = (np.arange(n_bins) + 1) / (2 * n_bins)
    bin_lo, bin_hi = centre - 0.25 / n_bins, np.minimum(centre + 0.25 / n_bins, 0.5)
    overlap = np.minimum(ring_hi[:, None], bin_hi) - np.maximum(ring_lo[:, None], bin_lo)
    overlap = np.clip(overlap, 0, None)
    return overlap / overlap.sum(axis=0)


@functools.lru_cache(maxsize=16)
def _spectrum_projection(height: int, width: int, n_bins: int) -> np.ndarray:
    """Linear map (``H * (W // 2 + 1) x n_bins``) from an ``rfft2`` log power to the profile.

    Frequencies are measured in units of ``1 / min(H, W)`` cycles/pixel and rounded to integer
    rings 1..min(H, W) // 2 (DC and the corners beyond the inscribed circle are left out).
    Each ring averages its pixels over the full plane: ``rfft2`` keeps half of it, so columns
    standing for two conjugate pixels count twice.
    """
    side = min(height, width)
    fy = scipy.fft.fftfreq(height)[:, None]
    fx = scipy.fft.rfftfreq(width)[None, :]
    ring = np.rint(side * np.hypot(fy, fx)).astype(int).ravel()
    twice = (fx > 0) & (fx < 0.5) if width % 2 == 0 else fx > 0
    weight = np.broadcast_to(np.where(twice, 2.0, 1.0), (height, fx.size)).ravel()
    n_rings = side // 2
    keep = (ring >= 1) & (ring <= n_rings)
    average = np.zeros((ring.size, n_rings))
    average[np.flatnonzero(keep), ring[keep] - 1] = weight[keep]
    average /= average.sum(axis=0)
    return (average @ _ring_to_bins(n_rings, side, n_bins)).astype(np.float32)


def log_spectrum_profile(x: np.ndarray, n_bins: int, window: bool = True) -> np.ndarray:
    """Azimuthally averaged log power spectrum of float images ``N x H x W`` -> ``N x n_bins``.

    ``log(|F|^2 + EPS_POWER)`` of the orthonormal 2-D FFT (optionally Hann-windowed), averaged
    over rings of integer radius (units of ``1 / min(H, W)`` cycles/pixel) and resampled to
    ``n_bins`` bands centred on ``(b + 1) / (2 n_bins)``, b = 0..n_bins-1 (the last one at the
    Nyquist frequency 0.5): for 64 x 64 images and 32 bins, band b is exactly ring b + 1.
    """
    n, height, width = x.shape
    if window:
        x = x * _hann(height, width)
    power = np.abs(scipy.fft.rfft2(x, norm="ortho")) ** 2
    log_power = np.log(power + EPS_POWER, dtype=np.float32)
    return log_power.reshape(n, -1) @ _spectrum_projection(height, width, n_bins)


# ----------------------------------------------------------------------------------- DCT


def log_dct_blocks(x: np.ndarray) -> np.ndarray:
    """Mean log-magnitude of each coefficient of the 8x8 block DCT: ``N x H x W`` -> ``N x 64``.

    The image is cut into non-overlapping 8x8 blocks from the top-left corner (a remainder of
    fewer than 8 rows/columns is dropped); each block gets an orthonormal type-II DCT and
    ``log(|c| + EPS_MAGNITUDE)`` is averaged over the blocks, coefficient by coefficient
    (row-major: index ``8 u + v`` for vertical frequency u, horizontal v).

    Blocks rather than an 8x8 band map of the full-image DCT: the block grid stays in phase
    with periodic artifacts whose period divides 8 (2x/4x/8x upsampling, JPEG), which then show
    as exact per-coefficient nulls or peaks instead of being averaged into wide bands.
    """
    n, height, width = x.shape
    rows, cols = height // BLOCK, width // BLOCK
    blocks = x[:, : rows * BLOCK, : cols * BLOCK].reshape(n, rows, BLOCK, cols, BLOCK)
    coeffs = scipy.fft.dctn(blocks, type=2, axes=(2, 4), norm="ortho")
    log_mag = np.log(np.abs(coeffs) + EPS_MAGNITUDE, dtype=np.float32)
    return log_mag.mean(axis=(1, 3)).reshape(n, BLOCK * BLOCK)


# ------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Fingerprint:
    """One fingerprint: a transform (``spectrum`` or ``dct``) of the image or its residual.

    ``n_bins`` (spectrum) is the number of radial frequency bands; ``window`` (spectrum) applies
    a 2-D Hann window before the FFT. The window limits the leakage of the image border's
    discontinuity (it helps on images), but also blurs the spectrum by one bin: off for the
    residual, which is zero-mean noise with no border jump, so its sharp periodic peaks and nulls
    stay sharp. The DCT fingerprint always has 64 dimensions (8x8 blocks).
    """

    name: str
    transform: str
    residual: bool = False
    n_bins: int = 32
    window: bool = True

    @property
    def dim(self) -> int:
        return self.n_bins if self.transform == "spectrum" else BLOCK * BLOCK

    def _batch(self, images: np.ndarray) -> np.ndarray:
        if min(images.shape[1:]) < MIN_SIDE:
            raise InputError(
                f"{self.name}: image of shape {images.shape[1:]} is too small; "
                f"fingerprints need at least {MIN_SIDE} x {MIN_SIDE} pixels"
            )
        x = _prepare(images, self.residual)
        if self.transform == "spectrum":
            feats = log_spectrum_profile(x, self.n_bins, self.window)
        else:
            feats = log_dct_blocks(x)
        return (feats - feats.mean(axis=1, keepdims=True)).astype(np.float32)

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Features (float32 ``N x dim``) of uint8 images ``N x H x W``, ``H x W`` or a list of
        ``H x W``. Images of the same size are processed together; a list may mix sizes."""
        if isinstance(images, np.ndarray):
            images = images[None] if images.ndim == 2 else images
            if images.ndim != 3 or images.dtype != np.uint8:
                raise ValueError(
                    f"expected uint8 N x H x W images, got {images.dtype} {images.shape}"
                )
            return self._batch(images) if len(images) else np.zeros((0, self.dim), np.float32)
        if not all(
            isinstance(im, np.ndarray) and im.ndim == 2 and im.dtype == np.uint8 for im in images
        ):
            raise ValueError("expected a sequence of uint8 H x W arrays")
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for shape in {image.shape for image in images}:
            rows = [i for i, image in enumerate(images) if image.shape == shape]
            out[rows] = self._batch(np.stack([images[i] for i in rows]))
        return out

    def describe(self) -> dict[str, str | int]:
        """Parameters recorded with the features (str and int only)."""
        info: dict[str, str | int] = {
            "fingerprint": self.transform,
            "residual": "image - median3x3(image)" if self.residual else "none",
            "preprocessing": "x/255, image mean subtracted",
            "feature_normalisation": "feature vector mean subtracted",
        }
        if self.transform == "spectrum":
            info |= {
                "n_bins": self.n_bins,
                "window": "hann" if self.window else "none",
                "log": f"log(|rfft2 ortho|^2 + {EPS_POWER:g})",
                "bands": "rings of radius round(min(H,W) * f), 1..min(H,W)//2, area-resampled "
                "to bands centred on (b+1)/(2 n_bins) cycles/pixel",
            }
        else:
            info |= {
                "block": BLOCK,
                "log": f"log(|dctn type 2 ortho| + {EPS_MAGNITUDE:g}), mean over blocks",
            }
        return info | {"numpy_version": np.__version__, "scipy_version": scipy.__version__}


FINGERPRINTS: dict[str, Fingerprint] = {
    fp.name: fp
    for fp in (
        Fingerprint("spectrum", "spectrum"),
        Fingerprint("dct", "dct"),
        Fingerprint("spectrum_residual", "spectrum", residual=True, window=False),
        Fingerprint("dct_residual", "dct", residual=True),
    )
}

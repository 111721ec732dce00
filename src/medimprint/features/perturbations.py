"""Post-processing that a published synthetic image may have gone through, for robustness runs.

A perturbation is named by what it does and its one parameter:

- ``jpeg<Q>``: JPEG encode at quality ``Q`` (1-100) and decode (Pillow, 4:2:0 irrelevant for gray).
- ``resize<P>``: shrink to ``P`` percent (10-99) of the side with an antialiased bilinear filter,
  then enlarge back to the original size with bilinear interpolation.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

from medimprint.errors import InputError

_PATTERN = re.compile(r"^(jpeg|resize)([0-9]{1,3})$")
_RANGES = {"jpeg": (1, 100), "resize": (10, 99)}


def parse_perturbation(name: str) -> tuple[str, int]:
    """``"jpeg90"`` -> ``("jpeg", 90)``; an invalid name raises `InputError` saying the forms."""
    match = _PATTERN.match(name)
    if match:
        kind, value = match.group(1), int(match.group(2))
        low, high = _RANGES[kind]
        if low <= value <= high and str(value) == match.group(2):
            return kind, value
    raise InputError(
        f"unknown perturbation {name!r}; use jpeg<quality 1-100> (e.g. jpeg90) or "
        "resize<percent 10-99> (e.g. resize50)"
    )


def perturb(image: np.ndarray, name: str) -> np.ndarray:
    """Apply perturbation ``name`` to a uint8 ``H x W`` image; returns uint8 ``H x W``."""
    kind, value = parse_perturbation(name)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"perturb needs a uint8 H x W image, got {image.dtype} {image.shape}")
    pil = Image.fromarray(image)
    if kind == "jpeg":
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=value)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            return np.asarray(decoded.convert("L"), dtype=np.uint8).copy()
    height, width = image.shape
    small = (max(1, round(width * value / 100)), max(1, round(height * value / 100)))
    shrunk = pil.resize(small, Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(shrunk.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)

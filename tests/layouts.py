"""Small synthetic datasets in the task's folder layout, shared by the data and bad-input tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (16, 12)  # height x width of the synthetic images


def noise(seed: int, shape: tuple[int, ...] = SIZE) -> np.ndarray:
    """Deterministic uint8 noise image (noise keeps PNGs large enough to truncate)."""
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def png(path: Path, image: np.ndarray | None = None, seed: int = 0) -> Path:
    """Write ``image`` (default: noise) as a PNG, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noise(seed) if image is None else image).save(path, format="PNG")
    return path


def membership_layout(root: Path, n: int = 2, labels: bool = True) -> dict:
    """Create a membership dataset with ``n`` images per role; return its config entry."""
    for k, role in enumerate(("generated", "real_used", "real_not_used", "real_unknown")):
        for i in range(n):
            png(root / role / f"{role}_{i}.png", seed=100 * k + i)
    entry = {
        "generated": "generated/*.png",
        "real_used": "real_used/*.png",
        "real_not_used": "real_not_used/*.png",
        "real_unknown": "real_unknown/*.png",
    }
    if labels:
        rows = [f"real_unknown_{i},{i % 2}" for i in range(n)]
        (root / "test_labels.csv").write_text("id,label\n" + "\n".join(rows) + "\n")
        entry["test_labels"] = "test_labels.csv"
    return {"root": str(root), "membership": entry}


def attribution_layout(root: Path, generators=("vae", "dcgan"), n: int = 2) -> dict:
    """Create an attribution dataset; test images t0.. labelled cyclically by generator."""
    for k, g in enumerate(generators):
        for i in range(n):
            png(root / "train" / g / f"{g}_{i}.png", seed=100 * k + i)
    test_ids = [f"t{i}" for i in range(n)]
    for i, id_ in enumerate(test_ids):
        png(root / "test" / f"{id_}.png", seed=500 + i)
    rows = [f"{id_},{generators[i % len(generators)]}" for i, id_ in enumerate(test_ids)]
    (root / "test_labels.csv").write_text("id,label\n" + "\n".join(rows) + "\n")
    return {
        "root": str(root),
        "attribution": {
            "generators": {g: f"train/{g}/*.png" for g in generators},
            "test": "test/*.png",
            "test_labels": "test_labels.csv",
            "test_generators": len(generators),
        },
    }


def subsets_layout(root: Path, subsets=("s1", "s2"), n: int = 2) -> dict:
    """Create a training-subset dataset as the task ships it (names numbered per folder, so
    they repeat); unknown images labelled cyclically by subset."""
    for k, subset in enumerate(subsets):
        for i in range(n):
            png(root / "real" / subset / f"image_{i:05d}.png", seed=100 * k + i)
            png(root / "generated" / subset / f"image_{i:05d}.png", seed=1000 + 100 * k + i)
    rows = []
    for i in range(n):
        png(root / "generated_unknown" / f"image_{i:05d}.png", seed=5000 + i)
        rows.append(f"image_{i:05d}.png,{subsets[i % len(subsets)]}")
    (root / "test_labels.csv").write_text("image_path,label\n" + "\n".join(rows) + "\n")
    return {
        "root": str(root),
        "subsets": {
            "real": "real/*/*.png",
            "generated": "generated/*/*.png",
            "unknown": "generated_unknown/*.png",
            "test_labels": "test_labels.csv",
        },
    }

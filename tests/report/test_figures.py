"""The report's attribution figures on a small attribution set with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medimprint.attribution.runs import AttributionSetup
from medimprint.io import write_gray_png
from medimprint.report.attribution_figures import (
    colour_indices,
    embed_2d,
    write_attribution_figures,
)


def test_embedding_keeps_separated_groups_apart():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(c, 0.1, (20, 8)) for c in (0.0, 5.0)])
    coords = embed_2d(x, seed=0)
    assert coords.shape == (40, 2)
    a, b = coords[:20], coords[20:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    assert gap > 3 * max(a.std(0).max(), b.std(0).max())
    with pytest.raises(ValueError, match="at least 4"):
        embed_2d(x[:3])


def test_attribution_figures_are_written(tmp_path):
    rng = np.random.default_rng(1)
    rows, features = [], []
    for split, generators in (("train", "ab"), ("test", "abc")):
        for g, name in enumerate(generators):
            for i in range(8):
                image_id = f"{split}_{name}{i}"
                path = tmp_path / "img" / f"{image_id}.png"
                write_gray_png(path, np.full((16, 16), 60 * g + i, dtype=np.uint8))
                rows.append((image_id, str(path), "generated", split, name))
                features.append(rng.normal(4.0 * g, 0.2, 6))
    manifest = pd.DataFrame(rows, columns=["id", "path", "role", "split", "label"])
    test = manifest[manifest["split"] == "test"]
    assignments = pd.DataFrame(
        {"id": test["id"], "split": "test", "cluster": [str(i // 8) for i in range(len(test))]}
    )
    embedding, examples = tmp_path / "out" / "embedding.png", tmp_path / "out" / "examples.png"
    write_attribution_figures(
        manifest,
        manifest["id"].tolist(),
        np.array(features),
        assignments,
        AttributionSetup(reducer="pca95"),
        run="toy/pca95/kmeans/k-given/clean",
        embedding_path=embedding,
        examples_path=examples,
        per_cluster=4,
    )
    for path in (embedding, examples):
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 200
    assert sorted(p.name for p in embedding.parent.iterdir()) == ["embedding.png", "examples.png"]
    named = {"0": "a", "1": "b", "2": "new"}
    names = assignments.assign(generator=assignments["cluster"].map(named))
    write_attribution_figures(
        manifest,
        manifest["id"].tolist(),
        np.array(features),
        assignments,
        AttributionSetup(),
        run="toy/none/kmeans/k-estimated/clean",
        embedding_path=embedding,
        examples_path=examples,
        names=names,
    )
    with Image.open(examples) as image:
        assert image.format == "PNG"


def test_a_cluster_named_after_a_generator_has_its_colour():
    colours = ["dcgan", "vae", "new", "upconv_gan"]  # labelled generators, new, the unseen one
    predicted = colour_indices(["vae", "new", "vae (3)", "dcgan"], colours)
    truth = colour_indices(["upconv_gan", "vae", "dcgan"], colours)
    assert predicted == {"dcgan": 0, "vae": 1, "vae (3)": 1, "new": 2}
    assert truth == {"dcgan": 0, "vae": 1, "upconv_gan": 3}
    assert colour_indices(["b", "a"], None) == {"a": 0, "b": 1}  # no names: sorted clusters

"""Figures of the report's Attribution section: a 2-D map of the test features and example
images per predicted cluster (matplotlib, no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from medimprint.attribution.runs import AttributionSetup, reduce_splits
from medimprint.data.views import generated_rows
from medimprint.io import read_gray_png
from medimprint.report.figures import save_figure


def embed_2d(x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """2-D t-SNE map (PCA-initialised, perplexity up to 30) of the rows of ``x``."""
    from sklearn.manifold import TSNE

    x = np.asarray(x, dtype=np.float64)
    if len(x) < 4:
        raise ValueError(f"a 2-D map needs at least 4 points, got {len(x)}")
    if x.shape[1] < 2:  # e.g. one PCA component: give t-SNE's PCA initialisation two
        x = np.hstack([x, np.zeros((len(x), 2 - x.shape[1]))])
    perplexity = float(min(30.0, (len(x) - 1) / 3))
    tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(x)


def colour_indices(labels: Sequence[str], colours: Sequence[str] | None) -> dict[str, int]:
    """{label: palette index}, in legend order: a label's position in ``colours`` (a second
    cluster named after one generator, ``"vae (2)"``, takes ``vae``'s), then the other labels
    sorted."""
    palette = list(colours or ())
    palette += sorted({str(label) for label in labels} - set(palette))
    indices = {}
    for label in sorted({str(label) for label in labels}, key=palette.index):
        base = label.split(" (")[0]
        indices[label] = palette.index(base if base in palette else label)
    return indices


def embedding_figure(
    coords: np.ndarray,
    predicted: Sequence[object],
    truth: Sequence[object] | None,
    path: str | os.PathLike,
    title: str,
    *,
    colours: Sequence[str] | None = None,
) -> None:
    """Scatter of ``coords`` coloured by predicted cluster and, when known, by true generator.

    ``colours`` orders the labels of both panels onto one palette, so that a cluster named
    after a generator has that generator's colour; the default is each panel's sorted labels.
    """
    panels = [("predicted cluster", predicted)] + ([("true generator", truth)] if truth else [])
    fig = Figure(figsize=(5.5 * len(panels), 5))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, labels) in zip(axes[0], panels, strict=True):
        labels = np.asarray([str(label) for label in labels])
        for label, i in colour_indices(labels, colours).items():
            at = labels == label
            ax.scatter(*coords[at].T, s=8, color=colormaps["tab10"](i % 10), label=label)
        ax.set_title(f"coloured by {name}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=2, fontsize=8, loc="best")
    fig.suptitle(title)
    save_figure(fig, path)


def examples_figure(
    examples: dict[object, list[np.ndarray]], path: str | os.PathLike, title: str
) -> None:
    """One row of example images per cluster."""
    columns = max(len(images) for images in examples.values())
    fig = Figure(figsize=(1.6 * columns, 1.7 * len(examples)))
    axes = fig.subplots(len(examples), columns, squeeze=False)
    for row, (label, images) in zip(axes, examples.items(), strict=True):
        for col, ax in enumerate(row):
            ax.axis("off")
            if col < len(images):
                ax.imshow(images[col], cmap="gray", vmin=0, vmax=255)
        row[0].set_title(f"cluster {label}", fontsize=9, loc="left")
    fig.suptitle(title)
    save_figure(fig, path)


def write_attribution_figures(
    manifest: pd.DataFrame,
    ids: list[str],
    features: np.ndarray,
    assignments: pd.DataFrame,
    setup: AttributionSetup,
    *,
    run: str,
    embedding_path: str | os.PathLike,
    examples_path: str | os.PathLike,
    per_cluster: int = 6,
    names: pd.DataFrame | None = None,
) -> None:
    """Both figures for one run: its test features (after the run's reducer) mapped to 2-D and
    coloured by its clusters (and by the test labels when given), and example test images of
    each cluster (the first ``per_cluster`` by id). With ``names`` (``id, cluster, generator``:
    `attribution.selection.name_clusters`) a cluster is labelled by the generator it was named
    after, and has that generator's colour in both panels."""
    table = pd.DataFrame(features, index=pd.Index(ids))
    train, test = generated_rows(manifest, "train"), generated_rows(manifest, "test")
    _, x_test = reduce_splits(
        table.loc[train["id"]].to_numpy(),
        table.loc[test["id"]].to_numpy(),
        train["label"].to_numpy(),
        setup,
    )
    clusters = assignments[assignments["split"] == "test"].set_index("id")["cluster"]
    predicted = clusters.loc[test["id"]].astype(int).to_numpy()
    labels = test["label"].tolist()
    truth = labels if all(labels) else None
    shown: list[object] = list(predicted)
    colours = None
    if names is not None:
        named = names.set_index("id")["generator"].loc[test["id"]].to_numpy()
        repeated = {n for n in set(named) if len(set(predicted[named == n])) > 1}
        shown = [
            f"{n} ({c})" if n in repeated else n for n, c in zip(named, predicted, strict=True)
        ]
        colours = sorted(set(train["label"])) + sorted(set(named) - set(train["label"]))
        colours += sorted(set(truth or ()) - set(colours))
    coords = embed_2d(x_test, seed=setup.seed)
    title = f"{run}: test images (t-SNE)"
    embedding_figure(coords, shown, truth, embedding_path, title, colours=colours)
    examples = {}
    for label in sorted(set(predicted)):
        chosen = test[predicted == label].sort_values("id").head(per_cluster)
        key = shown[list(predicted).index(label)] if names is not None else label
        examples[key] = [read_gray_png(path) for path in chosen["path"]]
    examples_figure(examples, examples_path, f"{run}: test images per predicted cluster")

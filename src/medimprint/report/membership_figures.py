"""Figures of the report's membership sections: score distributions of used and not-used
images, and AUC against the number of clusters (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from medimprint.membership.regions import best_membership_run

#: Colours of the two classes and of the unlabelled test images.
CLASS_COLOURS = {"1": "tab:red", "0": "tab:blue", "": "tab:gray"}
CLASS_NAMES = {"1": "used", "0": "not used", "": "unknown"}


def score_histograms(scores: Mapping[str, pd.DataFrame], *, value: str = "distance") -> Figure:
    """One panel per run (title: its id): histograms of ``value`` for used and not-used images,
    training split filled, test split outlined (test images without labels in grey)."""
    fig = Figure(figsize=(4.2 * len(scores), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(scores), squeeze=False)[0])
    for ax, (run, table) in zip(axes, scores.items(), strict=True):
        # Outliers go to the edge bins, so a few far images do not squash the rest.
        values = table[value].to_numpy(dtype=float)
        q1, q3 = np.percentile(values, [25, 75])
        low, high = max(values.min(), q1 - 3 * (q3 - q1)), min(values.max(), q3 + 3 * (q3 - q1))
        bins = np.linspace(low, high, 26) if high > low else 25
        for (split, label), group in table.groupby(["split", "label"], sort=True):
            style = (
                {"alpha": 0.45, "histtype": "stepfilled"}
                if split == "train"
                else {"histtype": "step", "linewidth": 1.8}
            )
            ax.hist(
                np.clip(group[value].to_numpy(dtype=float), low, high),
                bins=bins,
                density=True,
                color=CLASS_COLOURS[label],
                label=f"{split} {CLASS_NAMES[label]} ({len(group)})",
                **style,
            )
        ax.set_title(run, fontsize=8)
        ax.set_xlabel(value)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    return fig


def auc_against_k(searches: Mapping[str, pd.DataFrame], *, columns: int = 2) -> Figure:
    """One panel per group (e.g. crop / method), ``columns`` per row: cross-validated training
    AUC on grouped folds (what k is chosen by) against k (solid) for each line of the group's
    table (column ``line``), test AUC dotted when present."""
    columns = max(1, min(columns, len(searches)))
    rows = -(-len(searches) // columns)
    fig = Figure(figsize=(4.6 * columns, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(searches) :]:
        ax.set_axis_off()
    for ax, (group, table) in zip(axes, searches.items(), strict=False):
        for i, (line, points) in enumerate(table.groupby("line", sort=True)):
            points = points.sort_values("k")
            colour = f"C{i % 10}"
            ax.plot(points["k"], points["cv_auc_train"], color=colour, label=f"{line} train (CV)")
            if "auc_test" in points:
                ax.plot(points["k"], points["auc_test"], color=colour, linestyle=":")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("k (clusters of generated images)")
        dotted = " (dotted: test AUC)" if "auc_test" in table else ""
        ax.set_title(f"{group}{dotted}", fontsize=9)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=6, ncol=1)
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylabel("AUC")
    return fig


def region_figure_data(
    metrics: pd.DataFrame, dataset: str, runs: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """What the region figures show: the scores of each crop's run chosen on the training split
    (``{run: scores}``), and the k searches grouped by crop and method (``{"crop / method":
    table with a line column}``). ``runs`` maps run ids to their files (scores, search)."""
    crops = list(dict.fromkeys(run.split("/")[1] for run in runs))
    chosen = [best_membership_run(metrics, dataset, f"regions/{crop}") for crop in crops]
    scores = {run: _read(runs[run]["scores"]) for run in chosen}
    searches: dict[str, list[pd.DataFrame]] = {}
    for path in dict.fromkeys(files["search"] for files in runs.values()):
        _, crop, backbone, method = next(
            run for run, files in runs.items() if files["search"] == path
        ).split("/")[:4]
        table = _read(path)
        table["line"] = backbone + " " + table["distance"]
        searches.setdefault(f"{crop} / {method}", []).append(table)
    return scores, {group: pd.concat(tables) for group, tables in searches.items()}


def _read(path: str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"id": str, "label": str}, keep_default_na=False)


def roc_figure(scores: Mapping[str, pd.DataFrame]) -> Figure:
    """ROC curves of every run (``{run: per-image table with split, label, score}``) on the test
    split when it is labelled, else on the training split: linear axes, and log-log axes for
    the low false-positive region the membership-inference literature reports."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = Figure(figsize=(10, 4.4), layout="constrained")
    linear, log = fig.subplots(1, 2)
    split = "test"
    if any((table.loc[table["split"] == "test", "label"] == "").any() for table in scores.values()):
        split = "train"
    for i, (run, table) in enumerate(scores.items()):
        rows = table[table["split"] == split]
        truth = rows["label"].astype(int).to_numpy()
        if len(np.unique(truth)) < 2:
            continue
        fpr, tpr, _ = roc_curve(truth, rows["score"].to_numpy(dtype=float))
        auc = roc_auc_score(truth, rows["score"].to_numpy(dtype=float))
        style = {"color": f"C{i % 10}", "linestyle": "-" if i < 10 else "--"}
        linear.plot(fpr, tpr, label=f"{run} ({auc:.3f})", **style)
        log.plot(np.maximum(fpr, 1e-3), np.maximum(tpr, 1e-3), **style)
    for ax in (linear, log):
        ax.plot([1e-3, 1], [1e-3, 1], color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel(f"false-positive rate ({split} split)")
        ax.set_ylabel("true-positive rate")
    log.set_xscale("log")
    log.set_yscale("log")
    linear.legend(fontsize=6, title="run (AUC)", title_fontsize=7)
    return fig


def training_curve(history: pd.DataFrame, *, title: str = "") -> Figure:
    """Loss per epoch of a trained model: every column but ``epoch`` (e.g. train and validation
    loss), log scale."""
    fig = Figure(figsize=(5, 3.4), layout="constrained")
    ax = fig.subplots()
    for column in [c for c in history.columns if c != "epoch"]:
        ax.plot(history["epoch"], history[column].astype(float), label=column)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def error_examples(rows: pd.DataFrame, images: np.ndarray, reconstructions: np.ndarray) -> Figure:
    """Image, reconstruction and squared error map (rows of panels) of each example (columns,
    titled by id and class); error maps share one colour scale."""
    errors = np.square(reconstructions - images)
    fig = Figure(figsize=(1.9 * len(rows), 6.0), layout="constrained")
    axes = fig.subplots(3, len(rows), squeeze=False)
    top = float(errors.max()) or 1.0
    for column, (_, row) in enumerate(rows.iterrows()):
        panels = (images[column], reconstructions[column], errors[column])
        for ax, panel, cmap, vmax in zip(
            axes[:, column], panels, ("gray", "gray", "magma"), (1.0, 1.0, top), strict=True
        ):
            ax.imshow(panel, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
            ax.set_axis_off()
        axes[0, column].set_title(f"{row['id']}\n{CLASS_NAMES[str(row['label'])]}", fontsize=7)
    for ax, name in zip(axes[:, 0], ("image", "reconstruction", "squared error"), strict=True):
        ax.text(-0.08, 0.5, name, transform=ax.transAxes, rotation=90, va="center", ha="right")
    return fig

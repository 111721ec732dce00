"""HTML tables for the Snakemake report."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from medimprint.attribution import CLEAN

STYLE = """<style>
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; }
caption { font-weight: bold; text-align: left; padding: 0.3em 0; }
</style>"""


def format_value(value: float, low: float, high: float) -> str:
    """``0.912 [0.880, 0.941]``, or the bare value when there is no interval."""
    if np.isnan(value):
        return ""
    if np.isnan(low) or np.isnan(high):
        return f"{value:.4g}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


RUN_PARTS = ["features", "reducer", "method", "k", "view"]


def _attribution_rows(metrics: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A dataset's attribution rows and their run ids split into `RUN_PARTS` (same index)."""
    rows = metrics[(metrics["dataset"] == dataset) & (metrics["subtask"] == "attribution")]
    parts = rows["run"].str.split("/", expand=True).reindex(columns=range(len(RUN_PARTS)))
    parts.columns = RUN_PARTS
    return rows, parts


def attribution_table(metrics: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset's ARI grid (test images as made) in the layout of the paper's Tables 2, 5.

    Rows: features (backbone + reducer, with the test split's dimension as Table 2 gives the
    number of PCA components); columns: clustering method (and how k was chosen) x split.
    """
    rows, parts = _attribution_rows(metrics, dataset)
    clean = parts["view"] == CLEAN
    rows, parts = rows[clean], parts[clean]
    reducer = np.where(parts["reducer"] == "none", "", " + " + parts["reducer"])
    rows = rows.assign(
        features=parts["features"] + reducer,
        method=parts["method"] + np.where(parts["k"] == "k-given", "", " (k estimated)"),
    )
    dims = rows[rows["metric"] == "dim_test"].groupby("features")["value"].first()
    rows = rows[rows["metric"].isin(["ari_train", "ari_test"])]
    rows = rows.assign(
        features=[f"{f} ({dims.get(f, np.nan):.0f} dims)" for f in rows["features"]],
        split=rows["metric"].str.removeprefix("ari_") + " ARI",
        cell=[
            format_value(v, lo, hi)
            for v, lo, hi in zip(rows["value"], rows["ci_low"], rows["ci_high"], strict=True)
        ],
    )
    grid = rows.pivot_table(
        index="features", columns=["method", "split"], values="cell", aggfunc="first"
    )
    grid = grid.sort_index(axis=1, ascending=[True, False]).fillna("")
    grid.index.name, grid.columns.names = None, ["features \\ method", "split"]
    return grid


def robustness_table(metrics: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Test ARI of every run on the test images as made and after each perturbation, with the
    change (perturbed minus clean). Empty when the dataset has no robustness runs."""
    rows, parts = _attribution_rows(metrics, dataset)
    keep = rows["metric"] == "ari_test"
    rows, parts = rows[keep], parts[keep]
    if parts.empty or set(parts["view"]) == {CLEAN}:
        return pd.DataFrame()
    setup = parts[RUN_PARTS[:-1]].agg("/".join, axis=1)
    grid = pd.DataFrame({"setup": setup, "view": parts["view"], "ari": rows["value"]}).pivot_table(
        index="setup", columns="view", values="ari", aggfunc="first", sort=False
    )
    views = [CLEAN] + [v for v in grid.columns if v != CLEAN]
    out = pd.DataFrame(index=grid.index)
    for view in views:
        out[f"{view} ARI"] = grid[view].map("{:.3f}".format)
        if view != CLEAN:
            out[f"{view} change"] = (grid[view] - grid[CLEAN]).map("{:+.3f}".format)
    out.index.name = "run (features/reducer/method/k)"
    return out


def select_run(metrics: pd.DataFrame, dataset: str) -> str:
    """The clean run with the highest ARI on the labelled training split (test labels are never
    used); the first in metrics order on ties, or when no run has a training score."""
    rows, parts = _attribution_rows(metrics, dataset)
    clean = rows[parts["view"] == CLEAN]
    if clean.empty:
        raise ValueError(f"no attribution runs of dataset {dataset!r} in the metrics")
    scored = clean[clean["metric"] == "ari_train"]
    if scored.empty:
        return str(clean["run"].iloc[0])
    return str(scored.loc[scored["value"].idxmax(), "run"])


def metrics_html(metrics: pd.DataFrame) -> str:
    """A standalone HTML page: the attribution grid per dataset, then every metric row."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'>", STYLE, "</head><body>"]
    parts.append("<h1>medimprint metrics</h1>")
    attribution = metrics[metrics["subtask"] == "attribution"]
    for dataset in sorted(attribution["dataset"].unique()):
        caption = f"Attribution ARI, dataset {html.escape(dataset)} (95% bootstrap interval)"
        table = attribution_table(metrics, dataset).to_html(escape=True)
        parts.append(table.replace(">", f"><caption>{caption}</caption>", 1))
        robust = robustness_table(metrics, dataset)
        if not robust.empty:
            caption = (
                f"Robustness, dataset {html.escape(dataset)}: test ARI when the test images were "
                "perturbed (training images as made)"
            )
            table = robust.to_html(escape=True)
            parts.append(table.replace(">", f"><caption>{caption}</caption>", 1))
    parts.append("<h2>All metrics</h2>")
    parts.append(metrics.to_html(index=False, escape=True, na_rep="", float_format="%.4f"))
    parts.append("</body></html>")
    return "\n".join(parts)

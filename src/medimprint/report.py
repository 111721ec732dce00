"""HTML tables for the Snakemake report."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

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


def attribution_table(metrics: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset's ARI grid in the layout of the paper's Tables 2 and 5.

    Rows: features (backbone + reducer, with the test split's dimension as Table 2 gives the
    number of PCA components); columns: clustering method (and how k was chosen) x split.
    """
    rows = metrics[(metrics["dataset"] == dataset) & (metrics["subtask"] == "attribution")]
    parts = rows["run"].str.split("/", expand=True)
    reducer = np.where(parts[1] == "none", "", " + " + parts[1])
    rows = rows.assign(
        features=parts[0] + reducer,
        method=parts[2] + np.where(parts[3] == "k-given", "", " (k estimated)"),
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


def metrics_html(metrics: pd.DataFrame) -> str:
    """A standalone HTML page: the attribution grid per dataset, then every metric row."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'>", STYLE, "</head><body>"]
    parts.append("<h1>medimprint metrics</h1>")
    attribution = metrics[metrics["subtask"] == "attribution"]
    for dataset in sorted(attribution["dataset"].unique()):
        caption = f"Attribution ARI, dataset {html.escape(dataset)} (95% bootstrap interval)"
        table = attribution_table(metrics, dataset).to_html(escape=True)
        parts.append(table.replace(">", f"><caption>{caption}</caption>", 1))
    parts.append("<h2>All metrics</h2>")
    parts.append(metrics.to_html(index=False, escape=True, na_rep="", float_format="%.4f"))
    parts.append("</body></html>")
    return "\n".join(parts)

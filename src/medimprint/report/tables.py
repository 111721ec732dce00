"""HTML tables for the Snakemake report."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from medimprint.data.groups import ESTIMATED
from medimprint.membership.regions import best_membership_run
from medimprint.names import CLEAN, parse_subset_run_id

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


def best_attribution_run(metrics: pd.DataFrame, dataset: str) -> str:
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


REGION_PARTS = ["family", "crop", "features", "method", "distance"]
CHOSEN_METRICS = [
    "k",
    "cv_auc_train",
    "f1_train",
    "auc_train",
    "f1_test",
    "auc_test",
    "tpr_at_1pct_fpr_test",
    "tpr_at_10pct_fpr_test",
]


def _membership_rows(metrics: pd.DataFrame, family: str) -> pd.DataFrame:
    rows = metrics[
        (metrics["subtask"] == "membership") & metrics["run"].str.startswith(f"{family}/")
    ]
    parts = rows["run"].str.split("/", expand=True).reindex(columns=range(len(REGION_PARTS)))
    parts.columns = REGION_PARTS
    return pd.concat([rows, parts.drop(columns="family")], axis=1)


def _per_dataset(
    rows: pd.DataFrame, index: str | list[str], shown: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metric rows as one row per ``index``, with a (dataset, title) column per dataset and
    shown metric present; also returns the full wide table."""
    wide = rows.pivot_table(
        index=index, columns=["dataset", "metric"], values="value", aggfunc="first", sort=False
    )
    out = pd.DataFrame(index=wide.index)
    for dataset in dict.fromkeys(rows["dataset"]):
        for metric, title in shown.items():
            if (dataset, metric) in wide.columns:
                out[(dataset, title)] = wide[(dataset, metric)]
    return out, wide


def _finish(out: pd.DataFrame) -> pd.DataFrame:
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["dataset", ""])
    return out.map(_cell)


def regions_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Region runs in the layout of the paper's Table 3: one row per (crop, features, method,
    distance); per membership dataset the k chosen on the training split, the cross-validated
    training AUC (grouped folds: what k and runs are ranked by) and F1, and test F1 (beside
    the F1 of calling every image used) and AUC (when test labels exist); then the averages
    over datasets.
    """
    rows = _membership_rows(metrics, "regions")
    if rows.empty:
        return pd.DataFrame()
    shown = {
        "k": "k",
        "cv_auc_train": "AUC train (CV at the chosen k: in-sample, after selection)",
        "f1_train": "F1 train (CV)",
        "f1_test": "F1 test",
        "f1_all_used_test": "F1 all used",
        "auc_test": "AUC test",
    }
    out, wide = _per_dataset(rows, REGION_PARTS[1:], shown)
    datasets = list(dict.fromkeys(rows["dataset"]))
    for metric in ("f1_train", "f1_test"):
        present = [(d, metric) for d in datasets if (d, metric) in wide.columns]
        if len(present) > 1:
            out[("average", shown[metric])] = wide[present].mean(axis=1)
    out = _finish(out)
    out.index.names = ["crop", "features", "method", "distance"]
    return out


def attacks_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The paper's reconstruction runs, the attacks and their ensemble (Table 4 layout,
    extended) and the controls: one row per run; per membership dataset the cross-validated
    training AUC and F1, and test F1 (beside the F1 of calling every image used), AUC and TPR
    at 1% FPR (blank with fewer than 100 not-used test images), when test labels exist."""
    membership = metrics[metrics["subtask"] == "membership"]
    rows = membership[~membership["run"].str.startswith("regions/")]
    if rows.empty:
        return pd.DataFrame()
    shown = {
        "cv_auc_train": "AUC train (CV; in-sample after selection where a run chose a setting)",
        "f1_train": "F1 train (CV)",
        "f1_test": "F1 test",
        "kappa_test": "kappa test",
        "f1_all_used_test": "F1 all used",
        "auc_test": "AUC test",
        "tpr_at_1pct_fpr_test": "TPR@1%FPR test",
    }
    out = _finish(_per_dataset(rows, "run", shown)[0])
    out.index.name = "run"
    return out


def best_region_table(metrics: pd.DataFrame, family: str) -> pd.DataFrame:
    """Per membership dataset, the run chosen on the training split and its scores with 95%
    bootstrap intervals (test columns only when test labels exist). Its training figures are
    the winner's own, after selection among the family's runs and settings: in-sample."""
    rows = _membership_rows(metrics, family)
    out = {}
    for dataset in dict.fromkeys(rows["dataset"]):
        run = best_membership_run(metrics, dataset, family)
        chosen = rows[(rows["dataset"] == dataset) & (rows["run"] == run)].set_index("metric")
        cells = {"run": run}
        for metric in CHOSEN_METRICS:
            if metric in chosen.index:
                row = chosen.loc[metric]
                title = f"{metric} (in-sample, after selection)" if "train" in metric else metric
                cells[title] = format_value(row["value"], row["ci_low"], row["ci_high"])
        out[dataset] = cells
    return pd.DataFrame(out).T.fillna("")


#: Columns of the per-dataset answer (``selected.tsv``) shown first in the report: (title,
#: value column, whether ``{column}_low`` / ``_high`` give its interval).
SELECTED_COLUMNS = [
    ("chosen run", "run", False),
    ("groups", "groups", False),
    ("labelled groups: used", "used_groups", False),
    ("not used", "not_used_groups", False),
    ("groups check: labelled neighbour, AUC", "labelled_neighbour_auc_train", True),
    ("withheld", "withheld", False),
    ("test images with a labelled group", "test_with_labelled_group", False),
    ("AUC nested (estimate)", "auc_nested", True),
    ("F1 nested", "f1_nested", True),
    ("kappa nested", "kappa_nested", True),
    ("F1 all used", "f1_all_used_nested", False),
    ("AUC test", "auc_test", True),
    ("F1 test", "f1_test", True),
    ("kappa test", "kappa_test", True),
    ("TPR@1%FPR test", "tpr_at_1pct_fpr_test", False),
    ("control: labelled neighbour, AUC test", "labelled_neighbour_auc_test", True),
    ("baseline: nearest generated, AUC test", "nearest_generated_auc_test", True),
    ("verdict", "verdict", False),
]


#: Columns of an attribution dataset's answer (``attribution/selected.tsv``), as above.
ATTRIBUTION_SELECTED_COLUMNS = [
    ("chosen run", "run", False),
    ("k estimated", "k_test", False),
    ("k of the run, before merging", "k_run", False),
    ("labelled generators named", "named", False),
    ("held-out-generator ARI (training)", "heldout_ari", False),
    ("worst held-out generator", "heldout_ari_min", False),
    ("agreement with the other runs", "agreement", False),
    ("runs", "candidates", False),
    ("shortlisted", "shortlisted", False),
    ("k true", "k_expected", False),
    ("ARI test", "ari_test", True),
    ("generator names right", "naming_accuracy", False),
    ("unseen generator called new", "unseen_named_new", False),
    ("grid: lowest ARI test", "grid_ari_test_min", False),
    ("grid: median", "grid_ari_test_median", False),
    ("grid: highest", "grid_ari_test_max", False),
]


SUBSETS_SELECTED_COLUMNS = [
    ("chosen run", "run", False),
    ("subsets", "subsets", False),
    ("labelled generated images", "labelled", False),
    ("unknown images", "unknown", False),
    ("accuracy out of fold (training)", "accuracy_train", False),
    ("accuracy test", "accuracy_test", True),
    ("chance", "chance", False),
    ("runs", "runs", False),
    ("runs: lowest accuracy test", "runs_test_min", False),
    ("runs: median", "runs_test_median", False),
    ("runs: highest", "runs_test_max", False),
]


def subsets_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Every training-subset run: out-of-fold accuracy on the labelled images and test
    accuracy with its 95% bootstrap interval, by dataset, method and space."""
    rows = metrics[(metrics["subtask"] == "subsets") & metrics["metric"].str.startswith("acc")]
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in rows.itertuples(index=False):
        method, space = parse_subset_run_id(row.run)
        title = "accuracy test" if row.metric == "accuracy_test" else "accuracy out of fold"
        cell = format_value(row.value, row.ci_low, row.ci_high)
        out.setdefault((row.dataset, method, space), {})[title] = cell
    if not out:
        return pd.DataFrame()
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.names = ["dataset", "method", "space"]
    return table.sort_index()


def read_answers(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The datasets' answer rows (``selected.tsv`` files) in one table, numbers as numbers."""
    answers = [pd.read_csv(path, sep="\t") for path in paths]
    return pd.concat(answers, ignore_index=True) if answers else pd.DataFrame()


def selected_table(
    selected: pd.DataFrame, columns: list[tuple[str, str, bool]] = SELECTED_COLUMNS
) -> pd.DataFrame:
    """One row per dataset's answer, in ``columns``: for membership (the default) the run
    chosen without test labels, its nested estimate and test figures with grouped 95%
    intervals, both controls and the verdict; `ATTRIBUTION_SELECTED_COLUMNS` for attribution."""
    out = {}
    for _, row in selected.iterrows():
        cells = {}
        for title, column, interval in columns:
            value = row.get(column, np.nan)
            if interval:
                low, high = row.get(f"{column}_low", np.nan), row.get(f"{column}_high", np.nan)
                cells[title] = format_value(float(value), float(low), float(high))
            elif isinstance(value, str):
                cells[title] = value
            else:
                cells[title] = _cell(float(value))
        out[row["dataset"]] = cells
    return pd.DataFrame(out).T


def selected_notes(selected: pd.DataFrame) -> list[str]:
    """Warnings a reader of the answer table needs: estimated groups, blank low-FPR figures."""
    notes = []
    if "test_with_labelled_group" in selected:
        shared = selected[selected["test_with_labelled_group"] > 0]
        if not shared.empty:
            listed = ", ".join(
                f"{row.dataset} ({row.test_with_labelled_group:.0%})" for row in shared.itertuples()
            )
            notes.append(
                f"Image split: in {listed} of the test images share a group (patient / block) "
                "with labelled training images, so a method that compares test images with the "
                "labelled ones can recognise a neighbour instead of the generator; their test "
                "figures overstate. Draw test images in whole groups (split.test_by: group)."
            )
    estimated = selected.loc[selected["groups"] == ESTIMATED, "dataset"].tolist()
    if estimated:
        notes.append(
            "Groups of " + ", ".join(estimated) + " were estimated from the slices (no group "
            "file or pattern given): segments of neighbouring slices, coarsened until the "
            "labelled-neighbour control sits at chance (the groups check). Candidates that "
            "consult labelled images take no part there, and intervals are only as honest as "
            "the estimate. Give membership.groups (patient / series per image) where you know it."
        )
    if selected["tpr_at_1pct_fpr_test"].isna().any() and "auc_test" in selected:
        notes.append(
            "TPR at 1% FPR is blank where the test split has fewer than 100 not-used images: "
            "with fewer it would be the TPR at zero false positives."
        )
    notes.append(
        "The answer is the nearest-generated baseline unless choosing among the candidates beats "
        "it on held-out groups by more than the uncertainty. 'leakage shown' only where the "
        "answer's grouped AUC interval lies wholly above 0.5 and above the labelled-neighbour "
        "control's (which uses no generator); the nested estimate is what the whole choice "
        "(run, k, epsilon, threshold) scored on held-out groups of the training split. Where "
        "a class has too few labelled groups or the groups check fails, the figures and the "
        "verdict are withheld and the table says why."
    )
    return notes


#: Columns of the lung segmentation table, and their titles.
SEGMENTATION_COLUMNS = {
    "segmenter": "segmenter",
    "images": "images",
    "lung_found": "lungs found (fraction)",
    "reference_n": "slices with reference lungs",
    "reference_median_box_iou": "median box IoU",
    "reference_p10_box_iou": "10th pct box IoU",
    "reference_area_correlation": "area correlation",
    "reference_area_ratio": "median area / reference",
    "median_dice_vs_classical": "median Dice vs classical",
}


def segmentation_table(quality: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, its masks' agreement with reference lungs and with the classical masks."""
    columns = [c for c in SEGMENTATION_COLUMNS if c in quality.columns]
    table = quality.set_index("dataset")[columns].rename(columns=SEGMENTATION_COLUMNS)
    return table.map(lambda v: v if isinstance(v, str) else _cell(v))


def metrics_html(
    metrics: pd.DataFrame,
    segmentation: pd.DataFrame | None = None,
    selected: pd.DataFrame | None = None,
    attribution_selected: pd.DataFrame | None = None,
    subsets_selected: pd.DataFrame | None = None,
) -> str:
    """A standalone HTML page: each membership dataset's answer (``selected``), the lung
    segmentation quality, the membership tables, each attribution dataset's answer
    (``attribution_selected``) and grid, each training-subset dataset's answer
    (``subsets_selected``) and runs, then every metric row."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'>", STYLE, "</head><body>"]
    parts.append("<h1>medimprint metrics</h1>")
    if selected is not None and not selected.empty:
        parts.append("<h2>Membership — the answer per dataset</h2>")
        caption = (
            "The answer chosen without test labels (the nearest-generated baseline unless a "
            "nested choice among the candidates beats it), the groups and their check, its "
            "nested estimate and test figures (95% cluster-bootstrap intervals over groups), "
            "beside the two controls"
        )
        parts.append(_captioned(selected_table(selected).to_html(escape=True), caption))
        parts.extend(f"<p>{html.escape(note)}</p>" for note in selected_notes(selected))
    if segmentation is not None and not segmentation.empty:
        parts.append("<h2>Lung segmentation</h2>")
        caption = (
            "Lung masks against the reference lungs of the slices manifest (independent "
            "segmentation, boxes rescaled to the image size) and against the classical masks"
        )
        table = segmentation_table(segmentation).to_html(escape=True)
        parts.append(_captioned(table, caption))
    regions = regions_table(metrics)
    if not regions.empty:
        parts.append("<h2>Membership — regions</h2>")
        caption = (
            "Distance to clusters of the generated images (paper's Table 3 layout; k and the "
            "threshold chosen on the training split)"
        )
        parts.append(_captioned(regions.to_html(escape=True), caption))
        caption = "Region run chosen on the training split (cross-validated AUC), per dataset"
        chosen = best_region_table(metrics, "regions").to_html(escape=True)
        parts.append(_captioned(chosen, caption))
    attacks = attacks_table(metrics)
    if not attacks.empty:
        parts.append("<h2>Membership — reconstruction and distances</h2>")
        caption = (
            "The paper's autoencoder runs (mean-MSE, SSIM), attacks beyond the paper "
            "(GAN-Leaks, Monte Carlo, DOMIAS per feature space) and their rank ensemble; every "
            "choice on the training split"
        )
        parts.append(_captioned(attacks.to_html(escape=True), caption))
    if attribution_selected is not None and not attribution_selected.empty:
        parts.append("<h2>Attribution — the answer per dataset, k unknown</h2>")
        caption = (
            "Run with k estimated chosen without test labels (among the runs naming the most "
            "labelled generators, held-out-generator ARI on the labelled split, then agreement "
            "with the other runs), its clusters named after the "
            "labelled generators or new; test ARI with its 95% bootstrap interval, beside the "
            "spread of the runs it was chosen from"
        )
        table = selected_table(attribution_selected, ATTRIBUTION_SELECTED_COLUMNS)
        parts.append(_captioned(table.to_html(escape=True), caption))
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
    if subsets_selected is not None and not subsets_selected.empty:
        parts.append("<h2>Training subsets — the answer per dataset</h2>")
        caption = (
            "The run of best out-of-fold accuracy on the labelled generated images (no test "
            "label read), its test accuracy with a 95% bootstrap interval, beside chance and "
            "the spread of the runs it was chosen from"
        )
        table = selected_table(subsets_selected, SUBSETS_SELECTED_COLUMNS)
        parts.append(_captioned(table.to_html(escape=True), caption))
        caption = "Every training-subset run (95% bootstrap intervals over images)"
        parts.append(_captioned(subsets_table(metrics).to_html(escape=True), caption))
    parts.append("<h2>All metrics</h2>")
    parts.append(metrics.to_html(index=False, escape=True, na_rep="", float_format="%.4f"))
    parts.append("</body></html>")
    return "\n".join(parts)


def _captioned(table_html: str, caption: str) -> str:
    return table_html.replace(">", f"><caption>{html.escape(caption)}</caption>", 1)


def _cell(value: float) -> str:
    """Counts (k) as integers, scores with three decimals, missing as blank."""
    if pd.isna(value):
        return ""
    return f"{value:.0f}" if float(value).is_integer() and abs(value) > 1 else f"{value:.3f}"

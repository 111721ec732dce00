"""The project's membership answer and every run of a finished workflow beside the public
implementations a user would pick instead, on the same images, splits and metric.

    .venv/bin/pip install -e '.[peers]'     # domias, an optional extra
    .venv/bin/python benchmarks/peer_attacks.py --config config/task_shape.yaml

Per membership dataset of the config, on its test split (every label used only to score):

- naive: minus the distance to the nearest generated image, 64 px pixels;
- `domias.baselines` (van Breugel et al. 2023's package) as shipped, fixed, no choice: GAN-Leaks,
  calibrated GAN-Leaks, Monte Carlo with the median heuristic and LOGAN-D1 on 64 px pixels and
  on their first 10 principal components, and the KDE baselines (density of the generated
  images; its ratio to the reference density) on the components only (a Gaussian KDE needs few
  dimensions). The generated images are the test split's own where the dataset has them; the
  reference (calibrated GAN-Leaks, LOGAN-D1, KDE ratio) is the labelled not-used training
  images, the same the workflow's label-using attacks get;
- the workflow's answer (``membership/selected_scores.tsv``) and every run's test scores
  (``membership/**/<run>.tsv``).

Intervals are cluster bootstraps (1,000 draws) over the build's true groups (blocks of
neighbouring slices, patients: the ``groups.csv`` a build writes, read only here), else over
the groups the workflow used. TPR at 1% FPR is given where the test split has >= 100 not-used
images. Prints one Markdown table (a row per method, a column per dataset), then a summary: the
answer's lead over the best domias attack in hindsight and over the naive attack.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from finished_run import ANSWER_RUN, datasets, membership_runs, parser
from membership_answer import true_groups
from sklearn.decomposition import PCA

from medimprint.data.groups import read_groups
from medimprint.data.manifest import read_manifest
from medimprint.data.views import generated_ids
from medimprint.evaluation import bootstrap_interval
from medimprint.features.extractors import load_pixels
from medimprint.membership.metrics import auc, tpr_at_fpr
from medimprint.neighbours import nearest_distances
from medimprint.report.tables import format_value

#: Side of the pixel space the peers and the naive attack see.
SIDE = 64
#: Principal components for the density baselines (the DOMIAS paper's low-dimensional setting).
COMPONENTS = 10
#: A TPR at 1% FPR needs this many not-used images to be one.
MIN_NOT_USED = 100
N_BOOT = 1000


def domias_runs(query: np.ndarray, generated: np.ndarray, reference: np.ndarray, seed: int):
    """``{name: scores}`` of every `domias.baselines` attack, as the package computes them."""
    try:
        import torch
        from domias import baselines
    except ImportError as error:
        raise SystemExit(f"{error}: install the peers extra: pip install -e '.[peers]'") from None
    pca = PCA(COMPONENTS, random_state=seed).fit(np.vstack([generated, reference]))
    spaces = {
        f"{SIDE} px": (query, generated, reference),
        f"PCA-{COMPONENTS}": tuple(pca.transform(x) for x in (query, generated, reference)),
    }
    out: dict[str, np.ndarray] = {}
    for space, (q, g, r) in spaces.items():
        out[f"domias GAN-Leaks, {space}"] = baselines.GAN_leaks(q, g)
        out[f"domias calibrated GAN-Leaks, {space}"] = baselines.GAN_leaks_cal(q, g, r)
        out[f"domias Monte Carlo (median), {space}"] = baselines.MC(q, g)
        np.random.seed(seed)
        torch.manual_seed(seed)
        out[f"domias LOGAN-D1, {space}"] = baselines.LOGAN_D1(q, g, r)
    density, ratio = baselines.kde_baseline(*spaces[f"PCA-{COMPONENTS}"])
    out[f"domias KDE density, PCA-{COMPONENTS}"] = density
    out[f"domias KDE ratio, PCA-{COMPONENTS}"] = ratio
    return out


def test_runs(folder: Path, test_ids: list[str]) -> dict[str, np.ndarray]:
    """``{run: test scores in the order of test_ids}`` of the answer and every run under the
    dataset's ``membership/`` folder whose table scores exactly those images."""
    return {
        run: scores.loc[test_ids].to_numpy(dtype=float)
        for run, scores in membership_runs(folder, "test").items()
        if len(scores) == len(test_ids) and scores.index.isin(test_ids).all()
    }


def figures(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> dict[str, object]:
    """AUC with its grouped interval; TPR at 1% FPR where there are enough not-used images."""
    value, low, high = bootstrap_interval(auc, labels, scores, n_boot=N_BOOT, groups=groups)
    tpr = tpr_at_fpr(labels, scores, 0.01) if np.sum(labels == 0) >= MIN_NOT_USED else np.nan
    return {"auc": value, "low": low, "high": high, "tpr_at_1pct_fpr": tpr}


def dataset_table(results: Path, dataset: str, root: Path, seed: int) -> pd.DataFrame:
    """Every method's test figures on one dataset, one row each."""
    manifest = read_manifest(results / dataset / "manifest.tsv")
    real = manifest[manifest["role"] == "real"].set_index("id")
    test = real[real["split"] == "test"]
    reference = real[(real["split"] == "train") & (real["label"] == "0")]
    labels = test["label"].astype(int).to_numpy()
    paths = manifest.set_index("id")["path"]
    generated = paths.loc[generated_ids(manifest, "test")].tolist()
    query, gen, ref = (
        load_pixels(x, SIDE) for x in (test["path"].tolist(), generated, reference["path"].tolist())
    )
    truth = true_groups(results, dataset, root)
    keys = (
        truth["block"]
        if truth is not None
        else read_groups(results / dataset / "membership" / "groups.tsv")
    )
    groups = keys.loc[test.index].to_numpy()

    runs = {"naive: nearest generated, 64 px": -nearest_distances(query, gen)}
    runs |= domias_runs(query, gen, ref, seed)
    folder = results / dataset / "membership"
    chosen = pd.read_csv(folder / "selected.tsv", sep="\t").iloc[0]["run"]
    scores = test_runs(folder, test.index.tolist())
    runs[f"answer ({chosen})"] = scores.pop(ANSWER_RUN)
    runs |= {f"run {k}": v for k, v in scores.items()}
    rows = [{"method": name, **figures(labels, s, groups)} for name, s in runs.items()]
    table = pd.DataFrame(rows)
    table.attrs["groups"] = "true blocks" if truth is not None else "the workflow's groups"
    table.attrs["size"] = f"{int(labels.sum())} used + {int((labels == 0).sum())} not used"
    return table


def summary_row(dataset: str, table: pd.DataFrame) -> dict[str, object]:
    """The answer beside the naive attack, the best domias attack and the best run."""

    def best(prefix: str) -> pd.Series:
        part = table[table["method"].str.startswith(prefix)]
        return part.loc[part["auc"].idxmax()]

    answer, naive, peer, run = best("answer"), best("naive"), best("domias"), best("run ")

    def cell(r: pd.Series) -> str:
        return format_value(r["auc"], r["low"], r["high"])

    return {
        "dataset": dataset,
        "test images": table.attrs["size"],
        "naive NN, 64 px": cell(naive),
        "best domias, in hindsight": f"{cell(peer)} ({peer['method'].removeprefix('domias ')})",
        "answer": cell(answer),
        "best run, in hindsight": f"{cell(run)} ({run['method'].removeprefix('run ')})",
        "answer - max(naive, domias)": f"{answer['auc'] - max(naive['auc'], peer['auc']):+.3f}",
    }


def cells(table: pd.DataFrame) -> pd.Series:
    """Each method's ``AUC [low, high]`` (and TPR at 1% FPR where there is one), by method."""
    text = [format_value(*r) for r in table[["auc", "low", "high"]].to_numpy()]
    tpr = ["" if np.isnan(v) else f"; TPR@1% {v:.3f}" for v in table["tpr_at_1pct_fpr"]]
    names = table["method"].str.replace(r"^answer \(.*\)$", "answer", regex=True)
    return pd.Series([a + b for a, b in zip(text, tpr, strict=True)], index=names)


def main() -> int:
    command = parser(__doc__)
    command.add_argument("--seed", type=int, default=0)
    args = command.parse_args()
    summary, columns, groups = [], {}, set()
    for name, root in datasets(args, "membership"):
        print(f"{name} ...", file=sys.stderr)
        table = dataset_table(Path(args.results), name, root, args.seed)
        columns[name] = cells(table)
        groups.add(table.attrs["groups"])
        summary.append(summary_row(name, table))
    print(f"### Test AUC [95% interval over {' / '.join(sorted(groups))}]\n")
    print(pd.DataFrame(columns).fillna("").rename_axis("method").to_markdown())
    print("\n### Summary\n")
    print(pd.DataFrame(summary).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

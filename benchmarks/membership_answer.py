"""Does the membership answer's figure hold? Per dataset of a finished workflow run: the answer,
its nested estimate beside what it then scored on the test split, the nearest-generated
baseline, the best run in hindsight, and the groups it used beside the build's true ones.

    .venv/bin/python benchmarks/membership_answer.py --config config/task_shape.yaml

Reads ``results/{dataset}/membership/selected.tsv``, ``groups.tsv``, ``groups_check.tsv`` and
``results/{dataset}/metrics.tsv`` for every membership dataset of the config; the true groups
are the ``groups.csv`` a build writes beside its data (blocks of slices ``patient_bNN``, or
patients), read only here, after the run, never by the workflow when the dataset names none.
Prints one Markdown table, then the mean and largest |AUC nested - AUC test| over the datasets
with both figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from finished_run import datasets, parser
from sklearn.metrics import adjusted_rand_score

from medimprint.data.groups import image_aliases, read_group_file
from medimprint.data.manifest import read_manifest
from medimprint.io import read_table
from medimprint.report.tables import format_value


def true_groups(results: Path, dataset: str, root: Path) -> pd.DataFrame | None:
    """The build's blocks and patients of the dataset's real images, or None without them."""
    path = root / "groups.csv"
    if not path.is_file():
        return None
    manifest = read_manifest(results / dataset / "manifest.tsv")
    real = manifest[manifest["role"] == "real"]
    blocks = read_group_file(path, real["id"].tolist(), image_aliases(real, root))
    patients = blocks.str.replace(r"_b\d+$", "", regex=True)
    return pd.DataFrame({"block": blocks, "patient": patients})


def row(results: Path, dataset: str, root: Path) -> dict[str, object]:
    """One dataset's line of the table."""
    folder = results / dataset / "membership"
    answer = read_table(folder / "selected.tsv").iloc[0]
    check = read_table(folder / "groups_check.tsv")
    chosen = check[check["chosen"] == "True"].iloc[0]
    groups = read_table(folder / "groups.tsv").set_index("id")["group"]
    metrics = read_table(results / dataset / "metrics.tsv")
    tests = metrics[(metrics["subtask"] == "membership") & (metrics["metric"] == "auc_test")]
    best = tests.loc[tests["value"].astype(float).idxmax()] if len(tests) else None

    def triple(name: str) -> str:
        values = [float(answer.get(f"{name}{s}", "nan") or "nan") for s in ("", "_low", "_high")]
        return format_value(*values)

    out: dict[str, object] = {
        "dataset": dataset,
        "answer": answer["run"],
        "groups": f"{answer['groups']}, {answer['n_groups']} "
        f"({answer['used_groups']} + {answer['not_used_groups']} labelled)",
        "groups check (labelled neighbour)": format_value(
            float(chosen["neighbour_auc"]),
            float(chosen["neighbour_auc_low"]),
            float(chosen["neighbour_auc_high"]),
        )
        + ("" if chosen["at_chance"] == "True" else " NOT at chance"),
        "AUC nested": triple("auc_nested"),
        "AUC test": triple("auc_test"),
        "nearest generated, test": triple("nearest_generated_auc_test"),
        "kappa test": triple("kappa_test"),
        "best run in hindsight": "" if best is None else f"{float(best['value']):.3f}",
        "verdict": answer["verdict"] + (f" ({answer['withheld']})" if answer["withheld"] else ""),
    }
    truth = true_groups(results, dataset, root)
    if truth is not None:
        keys = groups.loc[truth.index]
        out["ARI vs blocks / patients"] = (
            f"{adjusted_rand_score(truth['block'], keys):.2f} / "
            f"{adjusted_rand_score(truth['patient'], keys):.2f}"
        )
        spread = keys.groupby(truth["block"]).nunique()
        out["true blocks split"] = f"{(spread > 1).mean():.0%} of {len(spread)}"
    out["_gap"] = abs(float(answer["auc_nested"] or "nan") - float(answer["auc_test"] or "nan"))
    out["_lead"] = float(answer["auc_test"] or "nan") - float(
        answer["nearest_generated_auc_test"] or "nan"
    )
    return out


def main() -> int:
    args = parser(__doc__).parse_args()
    rows = [row(Path(args.results), name, root) for name, root in datasets(args, "membership")]
    table = pd.DataFrame(rows)
    print(table.drop(columns=["_gap", "_lead"]).to_markdown(index=False))
    gaps = table["_gap"].dropna()
    if len(gaps):
        print(
            f"\n|AUC nested - AUC test|: mean {gaps.mean():.3f}, largest {gaps.max():.3f} "
            f"({len(gaps)} datasets); answer's test AUC minus the nearest-generated "
            f"baseline's: {', '.join(f'{v:+.3f}' for v in table['_lead'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

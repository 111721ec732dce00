"""Every training-subset method in one feature space: predictions, metrics, submissions."""

import pandas as pd

from medimprint.data.manifest import read_manifest
from medimprint.data.views import SubsetsView
from medimprint.evaluation import metric_rows
from medimprint.features.stores import read_features
from medimprint.io import write_table
from medimprint.names import subset_run_id
from medimprint.runtime.jobs import job
from medimprint.subsets.runs import run_metrics, run_space
from medimprint.subsets.selection import submission

with job(snakemake):
    w, params = snakemake.wildcards, snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    view = SubsetsView.of(manifest)
    ids, features = read_features(snakemake.input.features)
    predictions = run_space(
        view, ids, features, w.space, params.methods, folds=params.folds, seed=params.seed
    )
    metrics = run_metrics(predictions, view, n_boot=params.n_boot, seed=params.seed)
    rows = [metric_rows(w.dataset, "subsets", run, values) for run, values in metrics.items()]
    write_table(snakemake.output.predictions, predictions)
    write_table(snakemake.output.metrics, pd.concat(rows, ignore_index=True))
    test = predictions[predictions["split"] == "test"]
    for method, path in zip(params.methods, snakemake.output.submissions, strict=True):
        run = test[test["run"] == subset_run_id(method, w.space)]
        write_table(path, submission(run.set_index("id")["predicted"], manifest))

"""A training-subset dataset's answer: the run of best out-of-fold accuracy on the labelled
images, its confusion matrix (with test labels) and its submission."""

import pandas as pd

from medimprint.data.manifest import read_manifest
from medimprint.data.views import SubsetsView
from medimprint.evaluation import read_metrics
from medimprint.io import read_table, write_table
from medimprint.runtime.jobs import job
from medimprint.subsets.selection import answer_row, choose, confusion, submission

with job(snakemake) as log:
    manifest = read_manifest(snakemake.input.manifest)
    view = SubsetsView.of(manifest)
    metrics = read_metrics(list(snakemake.input.metrics))
    run = choose(metrics)
    log.info("chosen on the labelled images: %s", run)
    predictions = pd.concat([read_table(p) for p in snakemake.input.predictions])
    test = predictions[(predictions["run"] == run) & (predictions["split"] == "test")]
    predicted = test.set_index("id")["predicted"]
    row = answer_row(snakemake.wildcards.dataset, run, metrics, view)
    log.info("answer:\n%s", row.T.to_string())
    write_table(snakemake.output.table, row)
    table = (
        confusion(view.truth, predicted, view.subsets).reset_index()
        if view.truth is not None
        else pd.DataFrame(columns=["true", *view.subsets])
    )
    write_table(snakemake.output.confusion, table)
    write_table(snakemake.output.submission, submission(predicted, manifest))

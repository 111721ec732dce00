"""The labelled-neighbour control and the nearest-generated baseline in pixel space."""

import pandas as pd

from medimprint.data.groups import read_groups
from medimprint.data.manifest import read_manifest
from medimprint.evaluation import metric_rows
from medimprint.features.extractors import load_pixels
from medimprint.io import write_table
from medimprint.membership.controls import run_controls
from medimprint.membership.submissions import write_run
from medimprint.names import CONTROLS, control_run_id
from medimprint.runtime.jobs import job

with job(snakemake):
    params = snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    pixels = pd.DataFrame(load_pixels(manifest["path"].tolist()), index=manifest["id"])
    runs = run_controls(
        manifest,
        pixels,
        read_groups(snakemake.input.groups),
        folds=params.folds,
        seed=params.seed,
        n_boot=params.n_boot,
    )
    metrics = []
    for name, scores_path, submission_path in zip(
        CONTROLS, snakemake.output.scores, snakemake.output.submissions, strict=True
    ):
        write_run(runs[name].scores, scores_path, submission_path)
        metrics.append(
            metric_rows(
                snakemake.wildcards.dataset, "membership", control_run_id(name), runs[name].metrics
            )
        )
    write_table(snakemake.output.metrics, pd.concat(metrics, ignore_index=True))

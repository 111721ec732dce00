"""The paper's mean-MSE and SSIM membership runs on the reconstruction-error maps."""

import pandas as pd

from medimprint.data.groups import read_groups
from medimprint.data.manifest import read_manifest
from medimprint.evaluation import metric_rows
from medimprint.io import read_store, write_table
from medimprint.membership.runs import run_reconstruction
from medimprint.membership.submissions import write_run
from medimprint.names import RECONSTRUCTION_RUNS, reconstruction_run_id
from medimprint.runtime.jobs import job

with job(snakemake):
    params = snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    ids, arrays, _ = read_store(snakemake.input.errors, ["errors"])
    groups = read_groups(snakemake.input.groups)
    metrics, candidates = [], []
    for method, scores_path, submission_path in zip(
        RECONSTRUCTION_RUNS, snakemake.output.scores, snakemake.output.submissions, strict=True
    ):
        run = run_reconstruction(
            manifest,
            ids,
            arrays["errors"],
            method,
            groups=groups,
            n_boot=params.n_boot,
            seed=params.seed,
        )
        write_run(run.scores, scores_path, submission_path)
        candidates.append(run.candidates)
        name = reconstruction_run_id(method)
        metrics.append(metric_rows(snakemake.wildcards.dataset, "membership", name, run.metrics))
    write_table(snakemake.output.metrics, pd.concat(metrics, ignore_index=True))
    write_table(snakemake.output.candidates, pd.concat(candidates, ignore_index=True))

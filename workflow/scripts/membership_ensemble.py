"""Rank ensemble of a dataset's membership attacks, members chosen on the training split."""

from medimprint.data.groups import read_groups
from medimprint.data.manifest import read_manifest
from medimprint.evaluation import metric_rows
from medimprint.io import read_table, write_table
from medimprint.membership.runs import run_ensemble
from medimprint.membership.submissions import write_run
from medimprint.names import ENSEMBLE_RUN
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    params = snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    scores = {run: read_table(path) for run, path in params.runs.items()}
    run, subsets = run_ensemble(
        manifest,
        scores,
        groups=read_groups(snakemake.input.groups),
        folds=params.folds,
        seed=params.seed,
        n_boot=params.n_boot,
    )
    log.info("subsets:\n%s", subsets.to_string(index=False))
    write_run(run.scores, snakemake.output.scores, snakemake.output.submission)
    write_table(snakemake.output.subsets, subsets)
    write_table(
        snakemake.output.metrics,
        metric_rows(snakemake.wildcards.dataset, "membership", ENSEMBLE_RUN, run.metrics),
    )

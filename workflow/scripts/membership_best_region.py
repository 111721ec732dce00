"""Record the region run chosen on the training split and copy its submission."""

import shutil

from medimprint.evaluation import read_metrics
from medimprint.io import atomic_path, write_table
from medimprint.membership.regions import best_membership_run, selection_row
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    metrics = read_metrics([snakemake.input.metrics])
    run = best_membership_run(metrics, snakemake.wildcards.dataset, "regions")
    log.info("chosen on the training split: %s", run)
    write_table(snakemake.output.table, selection_row(metrics, snakemake.wildcards.dataset, run))
    with atomic_path(snakemake.output.submission) as tmp:
        shutil.copyfile(snakemake.params.submissions[run], tmp)

"""Concatenate one dataset's per-run metrics into its metrics.tsv."""

from medimprint.evaluation import read_metrics
from medimprint.io import write_table
from medimprint.runtime.jobs import job

with job(snakemake):
    write_table(snakemake.output[0], read_metrics(list(snakemake.input)))

"""Concatenate one dataset's per-run metrics into its metrics.tsv."""

from medimprint.io import write_table
from medimprint.metrics import read_metrics
from medimprint.runtime import job

with job(snakemake):
    write_table(snakemake.output[0], read_metrics(list(snakemake.input)))

"""All datasets' metrics in one table, and the report's HTML tables."""

from medimprint.io import atomic_path, write_table
from medimprint.metrics import read_metrics
from medimprint.report import metrics_html
from medimprint.runtime import job

with job(snakemake):
    table = read_metrics(list(snakemake.input))
    write_table(snakemake.output.table, table)
    with atomic_path(snakemake.output.html) as tmp:
        tmp.write_text(metrics_html(table))

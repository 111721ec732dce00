"""All datasets' metrics in one table, and the report's HTML tables."""

import pandas as pd

from medimprint.evaluation import read_metrics
from medimprint.io import atomic_path, write_table
from medimprint.report.tables import metrics_html
from medimprint.runtime.jobs import job

with job(snakemake):
    table = read_metrics(list(snakemake.input.metrics))
    write_table(snakemake.output.table, table)
    quality = [pd.read_csv(path, sep="\t") for path in snakemake.input.segmentation]
    segmentation = pd.concat(quality, ignore_index=True) if quality else pd.DataFrame()
    answers = {}
    for kind in ("selected", "attribution_selected"):
        chosen = [pd.read_csv(path, sep="\t") for path in snakemake.input[kind]]
        answers[kind] = pd.concat(chosen, ignore_index=True) if chosen else pd.DataFrame()
    with atomic_path(snakemake.output.html) as tmp:
        tmp.write_text(metrics_html(table, segmentation, **answers))

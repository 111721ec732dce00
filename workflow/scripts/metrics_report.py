"""All datasets' metrics in one table, and the report's HTML tables."""

import pandas as pd

from medimprint.evaluation import read_metrics
from medimprint.io import atomic_path, write_table
from medimprint.report.tables import metrics_html, read_answers
from medimprint.runtime.jobs import job

with job(snakemake):
    table = read_metrics(list(snakemake.input.metrics))
    write_table(snakemake.output.table, table)
    quality = [pd.read_csv(path, sep="\t") for path in snakemake.input.segmentation]
    segmentation = pd.concat(quality, ignore_index=True) if quality else pd.DataFrame()
    answers = {
        kind: read_answers(snakemake.input[kind])
        for kind in ("selected", "attribution_selected", "subsets_selected")
    }
    with atomic_path(snakemake.output.html) as tmp:
        tmp.write_text(metrics_html(table, segmentation, **answers))

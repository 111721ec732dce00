"""The report's attribution figures for the run chosen on the labelled training split."""

from medimprint.attribution import parse_run_id
from medimprint.data import read_manifest
from medimprint.features import load_feature_set
from medimprint.figures import attribution_figures
from medimprint.io import read_table
from medimprint.metrics import read_metrics
from medimprint.report import select_run
from medimprint.runtime import job

with job(snakemake) as log:
    params = snakemake.params
    run = select_run(read_metrics([snakemake.input.metrics]), snakemake.wildcards.dataset)
    log.info("figures of run %s", run)
    feature_set, setup, _ = parse_run_id(run, linkage=params.linkage, seed=params.seed)
    ids, features = load_feature_set(params.stores[feature_set])
    attribution_figures(
        read_manifest(snakemake.input.manifest),
        ids,
        features,
        read_table(params.clusters[run]),
        setup,
        run=run,
        embedding_path=snakemake.output.embedding,
        examples_path=snakemake.output.examples,
    )

"""The report's attribution figures for the run chosen on the labelled training split."""

from medimprint.attribution.runs import parse_run_id
from medimprint.data.manifest import read_manifest
from medimprint.evaluation import read_metrics
from medimprint.features.stores import load_feature_set
from medimprint.io import read_table
from medimprint.report.attribution_figures import write_attribution_figures
from medimprint.report.tables import best_attribution_run
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    params = snakemake.params
    run = best_attribution_run(read_metrics([snakemake.input.metrics]), snakemake.wildcards.dataset)
    log.info("figures of run %s", run)
    feature_set, setup, _ = parse_run_id(run, linkage=params.linkage, seed=params.seed)
    ids, features = load_feature_set(params.stores[feature_set])
    write_attribution_figures(
        read_manifest(snakemake.input.manifest),
        ids,
        features,
        read_table(params.clusters[run]),
        setup,
        run=run,
        embedding_path=snakemake.output.embedding,
        examples_path=snakemake.output.examples,
    )

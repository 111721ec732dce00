"""The report's attribution figures: the dataset's answer with its clusters named, or, where k
is only given, the run with the best training-split ARI."""

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
    names = None
    if snakemake.input.answer:
        selected, names_path = snakemake.input.answer
        run, names = read_table(selected)["run"].iloc[0], read_table(names_path)
    else:
        metrics = read_metrics([snakemake.input.metrics])
        run = best_attribution_run(metrics, snakemake.wildcards.dataset)
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
        names=names,
    )

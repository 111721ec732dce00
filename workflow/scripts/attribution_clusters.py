"""Cluster a dataset's synthetic images by generator for one run of the grid."""

from medimprint.attribution.runs import AttributionSetup, run_attribution, run_id, submission
from medimprint.data.manifest import read_manifest
from medimprint.evaluation import metric_rows
from medimprint.features.stores import load_feature_set
from medimprint.io import write_table
from medimprint.runtime.jobs import job

with job(snakemake):
    w, params = snakemake.wildcards, snakemake.params
    ids, features = load_feature_set(
        snakemake.input.stores, snakemake.input.get("replacements", [])
    )
    setup = AttributionSetup(
        reducer=w.reducer,
        method=w.method,
        linkage=params.linkage,
        k=w.kmode,
        k_criterion=params.k_criterion,
        k_max=params.k_max,
        seed=params.seed,
    )
    assignments, metrics = run_attribution(
        read_manifest(snakemake.input.manifest),
        ids,
        features,
        test_generators=params.test_generators,
        setup=setup,
        n_boot=params.n_boot,
    )
    run = run_id(w.feature_set, setup, w.view)
    write_table(snakemake.output.clusters, assignments)
    write_table(snakemake.output.metrics, metric_rows(w.dataset, "attribution", run, metrics))
    write_table(snakemake.output.submission, submission(assignments), header=False)

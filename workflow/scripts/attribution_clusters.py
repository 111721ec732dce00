"""Cluster a dataset's synthetic images by generator for one run of the grid."""

from medimprint.attribution import AttributionSetup, run_attribution, submission
from medimprint.data import read_manifest
from medimprint.features import read_features
from medimprint.io import write_table
from medimprint.metrics import metric_rows
from medimprint.runtime import job

with job(snakemake):
    w = snakemake.wildcards
    ids, features = read_features(snakemake.input.features)
    params = snakemake.params
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
        test_generators=snakemake.params.test_generators,
        setup=setup,
        n_boot=snakemake.params.n_boot,
    )
    run = f"{w.backbone}/{w.reducer}/{w.method}/k-{w.kmode}"
    write_table(snakemake.output.clusters, assignments)
    write_table(snakemake.output.metrics, metric_rows(w.dataset, "attribution", run, metrics))
    write_table(snakemake.output.submission, submission(assignments), header=False)

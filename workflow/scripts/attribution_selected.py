"""An attribution dataset's answer with k unknown: the run chosen without test labels, its
clusters named, its submission, and the spread of the grid it was chosen from."""

from medimprint.attribution.runs import submission
from medimprint.attribution.selection import select, summary
from medimprint.data.manifest import read_manifest
from medimprint.features.stores import load_feature_set
from medimprint.io import read_table, write_table
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    params = snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    partitions = {run: read_table(path) for run, path in params.runs.items()}
    feature_sets = {name: load_feature_set(stores) for name, stores in params.stores.items()}
    options = {key: params[key] for key in ("linkage", "k_criterion", "k_max", "seed")}
    selection = select(manifest, partitions, feature_sets, **options)
    log.info("chosen without test labels: %s", selection.run)
    row, candidates = summary(
        snakemake.wildcards.dataset,
        selection,
        manifest,
        partitions,
        n_boot=params.n_boot,
        seed=params.seed,
    )
    log.info("answer:\n%s", row.T.to_string())
    write_table(snakemake.output.table, row)
    write_table(snakemake.output.candidates, candidates)
    write_table(snakemake.output.names, selection.names)
    clusters = selection.names.assign(split="test")
    write_table(snakemake.output.submission, submission(clusters), header=False)

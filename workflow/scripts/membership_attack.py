"""One membership attack (one of `medimprint.names.ATTACKS`) in one feature space."""

from medimprint.data.groups import read_groups
from medimprint.data.manifest import read_manifest
from medimprint.evaluation import metric_rows
from medimprint.features.stores import read_features
from medimprint.io import write_table
from medimprint.membership.runs import run_attack
from medimprint.membership.submissions import write_run
from medimprint.names import attack_run_id
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    w, params = snakemake.wildcards, snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    ids, features = read_features(snakemake.input.features)
    run, search = run_attack(
        manifest,
        ids,
        features,
        w.attack,
        space=w.space,
        groups=read_groups(snakemake.input.groups),
        folds=params.folds,
        seed=params.seed,
        n_boot=params.n_boot,
    )
    if search is not None:
        log.info("epsilon search:\n%s", search.to_string(index=False))
    write_run(run.scores, snakemake.output.scores, snakemake.output.submission)
    write_table(snakemake.output.candidates, run.candidates)
    write_table(
        snakemake.output.metrics,
        metric_rows(w.dataset, "membership", attack_run_id(w.attack, w.space), run.metrics),
    )

"""The membership dataset's answer: the candidate chosen without test labels, its nested
estimate and test figures beside the controls, its submission and ROC figure."""

import pandas as pd

from medimprint.data.groups import ESTIMATED, groups_by_id
from medimprint.data.manifest import read_manifest
from medimprint.data.views import MembershipView
from medimprint.evaluation import read_metrics, run_metrics
from medimprint.io import read_table, write_table
from medimprint.membership.controls import check_passed
from medimprint.membership.selection import (
    BASELINE,
    nested_folds,
    scores_candidate,
    select,
    summary,
)
from medimprint.membership.submissions import write_run
from medimprint.names import CONTROLS, control_run_id
from medimprint.report.figures import save_figure
from medimprint.report.membership_figures import roc_figure
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    params, dataset = snakemake.params, snakemake.wildcards.dataset
    manifest = read_manifest(snakemake.input.manifest)
    groups_table = read_table(snakemake.input.groups)
    controls_scores = {
        control_run_id(name): read_table(path)
        for name, path in zip(CONTROLS, snakemake.input.control_scores, strict=True)
    }
    candidates = pd.concat(
        [
            *(read_table(path) for path in snakemake.input.candidates),
            scores_candidate(BASELINE, controls_scores[BASELINE]),
        ],
        ignore_index=True,
    )
    chosen = select(
        candidates,
        MembershipView.of(manifest, groups_by_id(groups_table)),
        given_groups=str(groups_table["source"].iloc[0]) != ESTIMATED,
        groups_at_chance=check_passed(read_table(snakemake.input.groups_check)),
        folds=params.folds,
        seed=params.seed,
        n_boot=params.n_boot,
    )
    log.info("chosen on the training split: %s", chosen.choice)
    if chosen.withheld:
        log.warning("no choice, nested figure or verdict: %s", chosen.withheld)
    controls = read_metrics([snakemake.input.controls])
    by_control = {name: run_metrics(controls, control_run_id(name)) for name in CONTROLS}
    row = summary(dataset, chosen, by_control, groups_table)
    log.info("answer:\n%s", row.T.to_string())
    write_table(snakemake.output.table, row)
    write_table(snakemake.output.folds, nested_folds(chosen))
    write_run(chosen.scores, snakemake.output.scores, snakemake.output.submission)
    curves = {f"chosen: {chosen.choice.candidate}": chosen.scores, **controls_scores}
    save_figure(roc_figure(curves), snakemake.output.roc)

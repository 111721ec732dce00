"""Membership by distance to clusters of the generated images, for one crop, backbone and
clustering method (both distances)."""

import pandas as pd

from medimprint.data.groups import read_groups
from medimprint.data.manifest import read_manifest
from medimprint.evaluation import metric_rows
from medimprint.features.stores import read_features
from medimprint.io import write_table
from medimprint.membership.regions import RegionSetup, run_regions
from medimprint.membership.submissions import write_run
from medimprint.names import DISTANCES, region_run_id
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    w, params = snakemake.wildcards, snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    ids, features = read_features(snakemake.input.features)
    setup = RegionSetup(
        method=w.method,
        ks=tuple(params.ks),
        linkage=params.linkage,
        max_points=params.max_points,
        folds=params.folds,
        seed=params.seed,
    )
    groups = read_groups(snakemake.input.groups)
    runs = run_regions(manifest, ids, features, setup, groups=groups, n_boot=params.n_boot)
    metrics, searches, candidates = [], [], []
    for distance, scores_path, submission_path in zip(
        DISTANCES, snakemake.output.scores, snakemake.output.submissions, strict=True
    ):
        run = runs[distance]
        log.info("%s: k=%d threshold=%.4g", distance, run.k, run.threshold)
        write_run(run.scores, scores_path, submission_path)
        name = region_run_id(w.crop, w.backbone, w.method, distance)
        metrics.append(metric_rows(w.dataset, "membership", name, run.metrics))
        searches.append(run.search.assign(distance=distance))
        candidates.append(run.candidates(name))
    write_table(snakemake.output.metrics, pd.concat(metrics, ignore_index=True))
    write_table(snakemake.output.search, pd.concat(searches, ignore_index=True))
    write_table(snakemake.output.candidates, pd.concat(candidates, ignore_index=True))

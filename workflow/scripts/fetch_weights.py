"""Fetch a backbone's pretrained weights into the torch cache (runs on the submit host)."""

import json

from medimprint.features.weights import fetch_weights
from medimprint.io import atomic_path
from medimprint.runtime.jobs import job

with job(snakemake):
    backbone, weights = snakemake.wildcards.backbone, snakemake.params.weights
    path = fetch_weights(backbone, weights)
    with atomic_path(snakemake.output[0]) as tmp:
        tmp.write_text(json.dumps({"backbone": backbone, "weights": weights, "file": path}))

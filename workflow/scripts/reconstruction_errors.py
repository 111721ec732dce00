"""Squared reconstruction-error maps of every real image of a membership database."""

from medimprint.data.manifest import read_manifest
from medimprint.membership.autoencoder import load_checkpoint, real_errors_to_store
from medimprint.runtime.jobs import job, pick_device

with job(snakemake):
    model, meta = load_checkpoint(snakemake.input.model)
    real_errors_to_store(
        model,
        read_manifest(snakemake.input.manifest),
        snakemake.output[0],
        input_size=meta.get("input_size"),
        device=pick_device(),
    )

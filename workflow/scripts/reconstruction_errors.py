"""Squared reconstruction-error maps of every real image of a membership database, each by the
autoencoder of its split."""

from medimprint.data.manifest import read_manifest
from medimprint.membership.autoencoder import load_checkpoint, real_errors_to_store
from medimprint.runtime.jobs import job, pick_device

with job(snakemake):
    (model, meta), (test_model, _) = map(
        load_checkpoint, (snakemake.input.model, snakemake.input.model_test)
    )
    real_errors_to_store(
        {"train": model, "test": test_model},
        read_manifest(snakemake.input.manifest),
        snakemake.output[0],
        input_size=meta.get("input_size"),
        device=pick_device(),
    )

"""Bottleneck codes of every image of a membership database: a feature space for the attacks
learned on its generated images (each split's images encoded by its split's autoencoder)."""

from medimprint.data.manifest import read_manifest
from medimprint.membership.autoencoder import codes_to_store, load_checkpoint
from medimprint.runtime.jobs import job, pick_device

with job(snakemake):
    (model, meta), (test_model, _) = map(
        load_checkpoint, (snakemake.input.model, snakemake.input.model_test)
    )
    codes_to_store(
        {"train": model, "test": test_model},
        read_manifest(snakemake.input.manifest),
        snakemake.output[0],
        input_size=meta.get("input_size"),
        device=pick_device(),
    )

"""Segment the lungs of every image of a dataset with a lung UNet checkpoint."""

from medimprint.data import read_manifest
from medimprint.lung_unet import load_checkpoint, predict_to_store
from medimprint.runtime import job, pick_device

with job(snakemake):
    model, _ = load_checkpoint(snakemake.input.model)
    predict_to_store(
        model, read_manifest(snakemake.input.manifest), snakemake.output[0], device=pick_device()
    )

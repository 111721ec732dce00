"""Segment the lungs of every image of a dataset with a lung UNet checkpoint."""

from medimprint.data.manifest import read_manifest
from medimprint.runtime.jobs import job, pick_device
from medimprint.segmentation.unet import load_checkpoint, predict_to_store

with job(snakemake):
    model, _ = load_checkpoint(snakemake.input.model)
    predict_to_store(
        model, read_manifest(snakemake.input.manifest), snakemake.output[0], device=pick_device()
    )

"""Segment the lungs of every image of a dataset with the classical segmenter."""

from medimprint.data.manifest import read_manifest
from medimprint.runtime.jobs import job
from medimprint.segmentation.classical import segment_to_store

with job(snakemake):
    segment_to_store(read_manifest(snakemake.input.manifest), snakemake.output[0])

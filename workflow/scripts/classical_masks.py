"""Segment the lungs of every image of a dataset with the classical segmenter."""

from medimprint.data import read_manifest
from medimprint.lungs import segment_to_store
from medimprint.runtime import job

with job(snakemake):
    segment_to_store(read_manifest(snakemake.input.manifest), snakemake.output[0])

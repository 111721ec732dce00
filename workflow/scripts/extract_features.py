"""Extract one backbone's features of every image of a dataset into an HDF5 store."""

from medimprint.backbones import build_extractor
from medimprint.data import read_manifest
from medimprint.features import extract_to_store
from medimprint.runtime import job

with job(snakemake) as log:
    extractor = build_extractor(
        snakemake.wildcards.backbone,
        snakemake.params.weights,
        seed=snakemake.params.seed,
        input_size=snakemake.params.input_size,
    )
    log.info("extracting %s on %s", extractor.name, extractor.device)
    extract_to_store(
        read_manifest(snakemake.input.manifest),
        snakemake.output[0],
        extractor,
        crop_name=snakemake.wildcards.crop,
        batch_size=snakemake.params.batch_size,
    )

"""Extract one backbone's features of a dataset's images into an HDF5 store.

With a ``perturbation`` wildcard (robustness runs), only the test images are extracted, after
the perturbation.
"""

from medimprint.attribution import robustness_images
from medimprint.backbones import build_extractor
from medimprint.data import read_manifest
from medimprint.features import extract_to_store
from medimprint.runtime import job

with job(snakemake) as log:
    perturbation = snakemake.wildcards.get("perturbation")
    manifest = read_manifest(snakemake.input.manifest)
    extractor = build_extractor(
        snakemake.wildcards.backbone,
        snakemake.params.weights,
        seed=snakemake.params.seed,
        input_size=snakemake.params.input_size,
    )
    log.info("extracting %s on %s, perturbation %s", extractor.name, extractor.device, perturbation)
    extract_to_store(
        robustness_images(manifest) if perturbation else manifest,
        snakemake.output[0],
        extractor,
        crop_name=snakemake.wildcards.crop,
        perturbation=perturbation,
        batch_size=snakemake.params.batch_size,
    )

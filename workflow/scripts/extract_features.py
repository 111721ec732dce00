"""Extract one backbone's features of a dataset's images (or of a lung region) into a store.

With a ``perturbation`` wildcard (robustness runs), only the test images are extracted, after
the perturbation.
"""

from medimprint.attribution.runs import robustness_images
from medimprint.data.manifest import read_manifest
from medimprint.features.extractors import build_extractor
from medimprint.features.stores import extract_to_store, loader_workers
from medimprint.runtime.jobs import job
from medimprint.segmentation.classical import RegionCrop

with job(snakemake) as log:
    perturbation = snakemake.wildcards.get("perturbation")
    crop = snakemake.wildcards.crop
    region = RegionCrop(snakemake.input.masks, crop) if crop != "full" else None
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
        crop_name=crop,
        crop=region,
        perturbation=perturbation,
        batch_size=snakemake.params.batch_size,
        num_workers=loader_workers(snakemake.threads, extractor.device),
    )

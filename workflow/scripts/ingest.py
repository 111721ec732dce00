"""Validate one dataset's folders and write its manifest."""

from medimprint.data.manifest import write_manifest
from medimprint.data.validation import ingest
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    manifest = ingest(
        snakemake.params.spec, name=snakemake.wildcards.dataset, workers=snakemake.threads
    )
    log.info("%d images: %s", len(manifest), manifest.groupby(["role", "split"]).size().to_dict())
    write_manifest(manifest, snakemake.output[0])

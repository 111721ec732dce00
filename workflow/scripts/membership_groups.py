"""Groups of a membership dataset's real images (patients / blocks): from its group file or
pattern, else estimated from near-duplicate slices in pixel space."""

from medimprint.data.groups import dataset_groups
from medimprint.data.manifest import read_manifest
from medimprint.io import write_table
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    params = snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    table = dataset_groups(manifest, params.spec, root=params.root)
    sizes = table["group"].value_counts()
    log.info(
        "%d real images in %d groups (%s; largest %d, median %g)",
        len(table),
        len(sizes),
        table["source"].iloc[0],
        sizes.max(),
        sizes.median(),
    )
    write_table(snakemake.output[0], table)

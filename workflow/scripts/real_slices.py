"""Make a build's pool of real slices: procedural demo slices or real PNG slices."""

from medimprint.benchmark.phantom import phantom_slices
from medimprint.benchmark.slices import load_slices
from medimprint.io import write_store, write_table
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    build = snakemake.params.build
    size = build["image_size"]
    if build["source"] == "demo":
        demo = build["demo"]
        images, meta = phantom_slices(
            demo["patients"], demo["slices_per_patient"], size, seed=snakemake.params.seed
        )
    else:
        slices = build["slices"]
        images, meta = load_slices(
            slices["glob"],
            slices.get("manifest"),
            size,
            keep_low_quality=slices["keep_low_quality"],
        )
    log.info("%d real slices of %dx%d", len(images), size, size)
    write_store(
        snakemake.output.images, meta["id"], {"images": images}, {"source": build["source"]}
    )
    write_table(snakemake.output.meta, meta)

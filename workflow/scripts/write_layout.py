"""Write a build's benchmark in the task's folder layout."""

from medimprint.benchmark.layout import write_layout
from medimprint.io import read_store, read_table
from medimprint.runtime.jobs import job

with job(snakemake):
    ids, arrays, _ = read_store(snakemake.input.images, ["images"])
    meta = read_table(snakemake.input.meta).set_index("id").loc[ids].reset_index()
    samples = {
        model: read_store(path, ["images"])[1]["images"]
        for model, path in zip(snakemake.params.models, snakemake.input.samples, strict=True)
    }
    write_layout(
        snakemake.output[0],
        arrays["images"],
        meta,
        read_table(snakemake.input.splits),
        samples,
        snakemake.params.build,
        seed=snakemake.params.seed,
    )

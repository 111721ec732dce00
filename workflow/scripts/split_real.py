"""Split a build's real slices into used / not-used pools per membership database, each into a
labelled train part and a test part, and name every slice's group (patient or block)."""

from medimprint.benchmark.split import split_real
from medimprint.io import read_table, write_table
from medimprint.runtime.jobs import job

with job(snakemake):
    split = snakemake.params.split
    splits = split_real(
        read_table(snakemake.input.meta),
        snakemake.params.membership,
        by=split["by"],
        block_size=split["block_size"],
        block_gap=split["block_gap"],
        seed=snakemake.params.seed,
        test_by=split["test_by"],
        build=snakemake.wildcards.build,
    )
    write_table(snakemake.output[0], splits)

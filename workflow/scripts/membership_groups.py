"""Groups of a membership dataset's real images (patients / blocks): from its group file or
pattern, else estimated from the slices; and their check by the labelled-neighbour control."""

import pandas as pd

from medimprint.data.manifest import read_manifest
from medimprint.features.extractors import load_pixels
from medimprint.io import write_table
from medimprint.membership.controls import checked_groups
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    params = snakemake.params
    manifest = read_manifest(snakemake.input.manifest)
    real = manifest[manifest["role"] == "real"]
    pixels = pd.DataFrame(load_pixels(real["path"].tolist()), index=real["id"])
    table, check = checked_groups(
        manifest, pixels, params.spec, root=params.root, n_boot=params.n_boot, seed=params.seed
    )
    sizes = table["group"].value_counts()
    chosen = check[check["chosen"]].iloc[0]
    log.info(
        "%d real images in %d groups (%s; largest %d, median %g); labelled-neighbour AUC "
        "%.3f [%.3f, %.3f]: %s",
        len(table),
        len(sizes),
        table["source"].iloc[0],
        sizes.max(),
        sizes.median(),
        chosen["neighbour_auc"],
        chosen["neighbour_auc_low"],
        chosen["neighbour_auc_high"],
        "at chance" if chosen["at_chance"] else "NOT at chance: the answer withholds its figures",
    )
    write_table(snakemake.output.table, table)
    write_table(snakemake.output.check, check)

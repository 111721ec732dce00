"""Train one generative model on a database's used real images (`layout.training_rows`) and
sample from it."""

import pandas as pd

from medimprint.benchmark.generators import DEFAULT_EPOCHS, train_generator
from medimprint.benchmark.layout import training_rows
from medimprint.io import read_store, read_table, write_store, write_table
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    database, family = snakemake.wildcards.database, snakemake.wildcards.family
    splits = read_table(snakemake.input.splits)
    used = training_rows(splits, database)
    _, arrays, _ = read_store(snakemake.input.images, ["images"], list(used["id"]))
    options = dict(snakemake.params.options)
    epochs = options.pop("epochs", DEFAULT_EPOCHS[family])
    batch_size = options.pop("batch_size", 32)
    lr = options.pop("lr", None)
    seed = snakemake.params.seed
    log.info("training %s on %d used images of %s", family, len(used), database)
    model = train_generator(
        arrays["images"],
        family,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        options=options,
        log=log.info,
    )
    model.save(snakemake.output.model)
    write_table(snakemake.output.history, pd.json_normalize(model.history))
    samples = model.sample(snakemake.params.n_samples, seed=seed + 1)
    ids = [f"{database}_{family}_{i:05d}" for i in range(len(samples))]
    write_store(snakemake.output.samples, ids, {"images": samples}, {"family": family})

"""Train a membership database's autoencoder on its generated images (the paper's method B)."""

from medimprint.data.manifest import read_manifest
from medimprint.io import write_table
from medimprint.membership.autoencoder import generated_images, save_checkpoint, train_autoencoder
from medimprint.runtime.jobs import job, pick_device

with job(snakemake) as log:
    options = snakemake.params.options
    size = options["input_size"]
    images = generated_images(read_manifest(snakemake.input.manifest), size)
    device = pick_device()
    log.info(
        "training the autoencoder on %d generated images (%s px) on %s",
        len(images),
        "x".join(map(str, images.shape[1:])),
        device,
    )
    model, history = train_autoencoder(
        images,
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        lr=options["lr"],
        patience=options["patience"],
        seed=snakemake.params.seed,
        device=device,
        log=log.info,
    )
    write_table(snakemake.output.history, history)
    meta = {
        "trained_on": snakemake.wildcards.dataset,
        "images": len(images),
        "best_val_loss": history["val_loss"].min(),
        "input_size": size,  # scoring resizes as training did
    }
    save_checkpoint(snakemake.output.model, model, meta)

"""Train a dataset's lung UNet on the classical masks of its generated and real training images."""

from medimprint.data.manifest import read_manifest
from medimprint.io import write_table
from medimprint.runtime.jobs import job, pick_device
from medimprint.segmentation.unet import save_checkpoint, train_unet, training_set

with job(snakemake) as log:
    params = snakemake.params
    ids, images, masks = training_set(
        read_manifest(snakemake.input.manifest), snakemake.input.masks
    )
    device = pick_device()
    log.info("training the lung UNet on %d images on %s", len(ids), device)
    model, history = train_unet(
        images,
        masks,
        epochs=params.epochs,
        batch_size=params.batch_size,
        seed=params.seed,
        device=device,
        log=log.info,
    )
    write_table(snakemake.output.history, history)
    save_checkpoint(
        snakemake.output.model,
        model,
        {
            "trained_on": snakemake.wildcards.dataset,
            "images": len(ids),
            "best_val_dice": float(history["val_dice"].max()),
        },
    )

"""Train a membership database's autoencoder on its generated images (the paper's method B),
and a second on its test split's own generated images when it has them (else the same model
again: the test split is scored as the training split is)."""

from medimprint.data.manifest import read_manifest
from medimprint.data.views import has_test_generator
from medimprint.io import write_table
from medimprint.membership.autoencoder import generated_images, save_checkpoint, train_autoencoder
from medimprint.runtime.jobs import job, pick_device

with job(snakemake) as log:
    options = snakemake.params.options
    size = options["input_size"]
    manifest = read_manifest(snakemake.input.manifest)
    device = pick_device()
    splits = ("train", "test") if has_test_generator(manifest) else ("train",)
    outputs = {"train": snakemake.output.model, "test": snakemake.output.model_test}
    for split in splits:
        images = generated_images(manifest, size, split)
        log.info(
            "training the %s split's autoencoder on %d generated images (%s px) on %s",
            split,
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
        meta = {
            "trained_on": f"{snakemake.wildcards.dataset}/{split}",
            "images": len(images),
            "best_val_loss": history["val_loss"].min(),
            "input_size": size,  # scoring resizes as training did
        }
        if split == "train":
            write_table(snakemake.output.history, history)
            if len(splits) == 1:  # no test generator: the test split uses the same model
                save_checkpoint(outputs["test"], model, meta)
        save_checkpoint(outputs[split], model, meta)

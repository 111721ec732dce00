"""A small 2-D MONAI autoencoder for reconstruction-error membership inference (the ImageCLEF
paper's method B): trained on a membership database's generated images, it should reconstruct
the real images the generator memorised better than unseen ones.

`train_autoencoder` fits it (seeded, deterministic on CPU, best validation loss kept, early
stopping); `reconstruction_errors` gives per-pixel squared error maps and `real_errors_to_store`
streams them into an HDF5 store; `encode` / `codes_to_store` give its bottleneck codes, a
feature space for the attacks learned on the generated images; `save_checkpoint` /
`load_checkpoint` use weights_only checkpoints. Reconstructions go through a sigmoid, so they
lie in [0, 1] like the inputs; images of any size work (zero-padded to a multiple of 8 and
cropped back). `at_input_size` area-averages larger images first: training and scoring at 64 px
instead of the task's 256 px costs a sixteenth (140 s an epoch for 1,500 images of 256 px on 2
CPU cores), and the checkpoint records the size so that scoring uses the one it was trained at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from monai.networks.nets import AutoEncoder

from medimprint.data.manifest import image_chunks, load_images
from medimprint.data.views import generated_ids
from medimprint.errors import InputError
from medimprint.io import stream_store
from medimprint.names import CODE_SPACE
from medimprint.runtime.checkpoints import load_model, save_model
from medimprint.runtime.tensors import (
    as_input,
    batched_inference,
    build_monai,
    check_images,
    padded_forward,
    total_stride,
)
from medimprint.runtime.training import train_epochs

#: Checkpoint format tag; `load_checkpoint` refuses any other.
FORMAT = "medimprint-autoencoder-1"
#: ``monai.networks.nets.AutoEncoder`` arguments (lists, so checkpoints hold plain values only).
ARCHITECTURE: dict[str, int | list[int]] = {
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 1,
    "channels": [16, 32, 64],
    "strides": [2, 2, 2],
    "num_res_units": 1,
}
#: Largest side of the pooled bottleneck grid (64 channels x 16 x 16 = 16,384 values at most).
CODE_GRID = 16
_FIX = (
    "train it with the workflow's train_autoencoder rule or point at a checkpoint written by "
    "medimprint (or at a state_dict of the same autoencoder)"
)


def at_input_size(images: np.ndarray, size: int | None) -> np.ndarray:
    """uint8 ``images`` area-averaged (then rounded) so that their longer side is at most
    ``size``; smaller images, and ``size=None``, are returned unchanged."""
    height, width = images.shape[-2:]
    if size is None or max(height, width) <= size:
        return images
    scale = size / max(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    x = torch.from_numpy(images).unsqueeze(1).float()
    resized = torch.nn.functional.interpolate(x, size=shape, mode="area")[:, 0]
    return resized.round().clamp(0, 255).to(torch.uint8).numpy()


def build_autoencoder(architecture: Mapping[str, object] | None = None) -> torch.nn.Module:
    """The autoencoder with ``architecture`` (default `ARCHITECTURE`), freshly initialised."""
    arch = ARCHITECTURE if architecture is None else architecture
    return build_monai(AutoEncoder, arch)


def _reconstruct(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reconstructions in [0, 1] of ``N x 1 x H x W`` inputs of any size."""
    multiple = total_stride(model, ARCHITECTURE["strides"])
    return torch.sigmoid(padded_forward(model, x, multiple))


def train_autoencoder(
    images: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    val_fraction: float = 0.1,
    patience: int = 5,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train the autoencoder on uint8 ``images`` (``N x H x W``) by the mean squared error of
    its reconstructions of the [0, 1]-scaled images, with Adam; ``log`` gets one line per epoch.

    A seeded ``val_fraction`` of the images (at least one) is held out. Returns the model of the
    lowest validation loss (eval mode, on ``device``; training stops after ``patience`` epochs
    without improvement) and the history (``epoch``, ``train_loss``, ``val_loss``). Runs with
    the same arguments give identical weights on CPU; the global torch RNG is left alone.
    """
    check_images(images)
    x_all = as_input(images, device)

    def batch_loss(model: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
        x = x_all[rows]
        return torch.nn.functional.mse_loss(_reconstruct(model, x), x)

    def validate(model: torch.nn.Module, parts: list[np.ndarray]) -> float:
        pixels = sum(len(part) for part in parts) * images.shape[1] * images.shape[2]
        return (
            sum(
                torch.nn.functional.mse_loss(
                    _reconstruct(model, x_all[part]), x_all[part], reduction="sum"
                ).item()
                for part in parts
            )
            / pixels
        )

    return train_epochs(
        build_autoencoder,
        n_images=len(images),
        batch_loss=batch_loss,
        validate=validate,
        higher_is_better=False,
        score_name="val_loss",
        describe=lambda loss, score: f"loss {loss:.5f}, val loss {score:.5f}",
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        val_fraction=val_fraction,
        patience=patience,
        seed=seed,
        device=device,
        log=log,
    )


def reconstruct(
    model: torch.nn.Module, images: np.ndarray, *, batch_size: int = 64, device: str = "cpu"
) -> np.ndarray:
    """float32 ``N x H x W`` reconstructions in [0, 1] of uint8 ``images``. Moves ``model`` to
    ``device``; CUDA runs in bfloat16 autocast, CPU in float32 (`batched_inference`)."""
    batches = batched_inference(model, images, _reconstruct, batch_size=batch_size, device=device)
    out = np.empty(images.shape, dtype=np.float32)
    for rows, recon in batches:
        out[rows] = recon.float()[:, 0].cpu().numpy()
    return out


def _encode(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Bottleneck codes of ``N x 1 x H x W`` inputs, average-pooled to at most `CODE_GRID`
    squared cells and flattened."""
    multiple = total_stride(model, ARCHITECTURE["strides"])
    height, width = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (0, -width % multiple, 0, -height % multiple))
    code = model.intermediate(model.encode(padded))
    if max(code.shape[-2:]) > CODE_GRID:
        code = torch.nn.functional.adaptive_avg_pool2d(code, CODE_GRID)
    return code.flatten(1)


def encode(
    model: torch.nn.Module, images: np.ndarray, *, batch_size: int = 64, device: str = "cpu"
) -> np.ndarray:
    """float32 bottleneck codes (one row each) of uint8 ``images``: a feature space learned on
    the generated images alone, where a memorised slice should sit nearer its copies than in an
    ImageNet space that was never shown CT."""
    batches = batched_inference(model, images, _encode, batch_size=batch_size, device=device)
    codes = [code.float().cpu().numpy() for _, code in batches]
    return np.concatenate(codes) if codes else np.empty((0, 0), np.float32)


def scored_rows(manifest: pd.DataFrame, split: str, roles: Sequence[str]) -> pd.DataFrame:
    """The images of ``roles`` the autoencoder of ``split`` encodes or scores: that split's
    real images and its own generated images (a test split's are ``generated_test``)."""
    real = manifest[(manifest["role"] == "real") & (manifest["split"] == split)]
    # the generated images of the split itself: without a test generator the test split has
    # none of its own (the training split's are encoded once, with its rows)
    own = (manifest["split"] == "test") == (split == "test")
    generated = manifest[(manifest["role"] == "generated") & own]
    parts = {"real": real, "generated": generated}
    return pd.concat([parts[role] for role in roles], ignore_index=True)


def _by_model(
    models: Mapping[str, torch.nn.Module],
    manifest: pd.DataFrame,
    roles: Sequence[str],
    per_chunk: Callable[[torch.nn.Module, np.ndarray], Iterator[np.ndarray]],
    chunk: int,
) -> tuple[list[str], Iterator[np.ndarray]]:
    """Ids, and rows of ``per_chunk`` over their images, of every image of ``roles``, each with
    the autoencoder of its split (``models``: ``train`` and ``test``)."""
    parts = [(models[split], scored_rows(manifest, split, roles)) for split in ("train", "test")]

    def rows() -> Iterator[np.ndarray]:
        for model, part in parts:
            for images in image_chunks(part["path"].tolist(), chunk):
                yield from per_chunk(model, images)

    return [str(i) for _, part in parts for i in part["id"]], rows()


def codes_to_store(
    models: Mapping[str, torch.nn.Module],
    manifest: pd.DataFrame,
    out_path: str | os.PathLike,
    *,
    input_size: int | None = None,
    device: str = "cpu",
    chunk: int = 256,
) -> None:
    """Write the codes (`encode`) of every image of a membership dataset, generated and real,
    at ``input_size`` (`at_input_size`), to a feature store (``features``, read by
    `features.stores.read_features`), atomically. Each split's images are encoded by its
    autoencoder (``models``: ``train``, ``test``; the same one without a test generator)."""
    ids, codes = _by_model(
        models,
        manifest,
        ("generated", "real"),
        lambda model, images: encode(model, at_input_size(images, input_size), device=device),
        chunk,
    )
    stream_store(out_path, ids, "features", codes, {"backbone": CODE_SPACE})


def reconstruction_errors(
    model: torch.nn.Module, images: np.ndarray, *, batch_size: int = 64, device: str = "cpu"
) -> np.ndarray:
    """float32 ``N x H x W`` squared differences between uint8 ``images`` scaled to [0, 1] and
    their reconstructions (`reconstruct`)."""
    recon = reconstruct(model, images, batch_size=batch_size, device=device)
    return np.square(recon - images.astype(np.float32) / 255.0)


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, meta: dict) -> None:
    """Write ``model`` and ``meta`` (str/int/float values only, e.g. epochs, best_val_loss,
    image_size, trained_on) to ``path`` atomically, loadable with ``weights_only=True``."""
    save_model(path, model, format=FORMAT, architecture=ARCHITECTURE, meta=meta)


def load_checkpoint(path: str | os.PathLike) -> tuple[torch.nn.Module, dict]:
    """The autoencoder (eval mode, CPU) and meta of a checkpoint written by `save_checkpoint`
    (or of a bare ``state_dict`` of the `ARCHITECTURE` autoencoder, with empty meta); files
    holding code, or otherwise unusable, raise `InputError`."""
    return load_model(
        path,
        format=FORMAT,
        build=build_autoencoder,
        architecture=ARCHITECTURE,
        name="autoencoder",
        fix=_FIX,
    )


def generated_images(
    manifest: pd.DataFrame, input_size: int | None = None, split: str = "train"
) -> np.ndarray:
    """The images the autoencoder of ``split`` learns: the generated images that split is
    scored against (never real ones), at ``input_size`` (`at_input_size`)."""
    rows = manifest[manifest["id"].isin(generated_ids(manifest, split))]
    if len(rows) < 2:
        raise InputError(f"the autoencoder needs generated images to learn, got {len(rows)}")
    return at_input_size(load_images(rows["path"].tolist()), input_size)


def real_errors_to_store(
    models: Mapping[str, torch.nn.Module],
    manifest: pd.DataFrame,
    out_path: str | os.PathLike,
    *,
    input_size: int | None = None,
    device: str = "cpu",
    chunk: int = 256,
) -> None:
    """The error maps (`reconstruction_errors`) of every real image of a membership dataset,
    each by the autoencoder of its split (``models``: ``train``, ``test``), at ``input_size``,
    to an HDF5 store under ``errors``, ``chunk`` images at a time, atomically."""
    ids, errors = _by_model(
        models,
        manifest,
        ("real",),
        lambda model, images: reconstruction_errors(
            model, at_input_size(images, input_size), device=device
        ),
        chunk,
    )
    stream_store(out_path, ids, "errors", errors, {"model": "autoencoder"})


def training_examples(
    model: torch.nn.Module,
    manifest: pd.DataFrame,
    *,
    per_class: int = 3,
    input_size: int | None = None,
    device: str = "cpu",
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A few labelled real training images of each class (used first; evenly spread over the
    sorted ids), their ``(rows, images in [0, 1], reconstructions)`` at ``input_size``."""
    real = manifest[(manifest["role"] == "real") & (manifest["split"] == "train")]
    picked = []
    for label in ("1", "0"):
        rows = real[real["label"] == label].sort_values("id")
        step = max(1, len(rows) // per_class)
        picked.append(rows.iloc[step // 2 :: step].head(per_class))
    rows = pd.concat(picked, ignore_index=True)
    images = at_input_size(load_images(rows["path"].tolist()), input_size)
    return rows, images.astype(np.float32) / 255.0, reconstruct(model, images, device=device)

"""A small 2-D MONAI UNet for lung masks, trained on the classical segmenter's masks.

`train_unet` fits it (seeded, deterministic on CPU, best validation Dice kept, early stopping);
`predict_masks` thresholds its output and cleans the masks like the classical segmenter (holes
filled, specks dropped); `save_checkpoint` / `load_checkpoint` write and read a file that loads
with ``torch.load(..., weights_only=True)`` and records the architecture, so no code is ever
unpickled. Images of any size work: they are zero-padded to a multiple of 8 and cropped back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import pandas as pd
import torch
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from scipy import ndimage

from medimprint.data.manifest import image_chunks, load_images
from medimprint.errors import InputError
from medimprint.io import read_store
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
from medimprint.segmentation.classical import MIN_LUNG_FRACTION, write_masks

#: Checkpoint format tag; `load_checkpoint` refuses any other.
FORMAT = "medimprint-lung-unet-1"
#: ``monai.networks.nets.UNet`` arguments (lists, so checkpoints hold plain values only).
ARCHITECTURE: dict[str, int | list[int]] = {
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 1,
    "channels": [16, 32, 64, 128],
    "strides": [2, 2, 2],
    "num_res_units": 1,
}
_FIX = (
    "train it with the train_lung_unet rule or point segmentation.checkpoint at a checkpoint "
    "written by medimprint (or at a state_dict of the same UNet)"
)


def build_unet(architecture: Mapping[str, object] | None = None) -> torch.nn.Module:
    """The lung UNet with ``architecture`` (default `ARCHITECTURE`), freshly initialised."""
    arch = ARCHITECTURE if architecture is None else architecture
    return build_monai(UNet, arch)


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits for ``N x 1 x H x W`` inputs of any size (padded to the UNet's total stride)."""
    multiple = total_stride(model, ARCHITECTURE["strides"])
    return padded_forward(model, x, multiple)


def _dice(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image Dice of boolean ``N x ...`` tensors; 1 where both are empty."""
    pred, target = pred.flatten(1).float(), target.flatten(1).float()
    total = pred.sum(1) + target.sum(1)
    return torch.where(total > 0, 2 * (pred * target).sum(1) / total.clamp(min=1), 1.0)


def _flip(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each image and its mask left-right, and up-down, each with probability 1/2."""
    coins = (torch.rand(2, len(x), 1, 1, 1, generator=generator) < 0.5).to(x.device)
    for coin, dim in zip(coins, (-1, -2), strict=True):
        x, y = torch.where(coin, x.flip(dim), x), torch.where(coin, y.flip(dim), y)
    return x, y


def train_unet(
    images: np.ndarray,
    masks: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    val_fraction: float = 0.1,
    patience: int = 5,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train the UNet on uint8 ``images`` and bool ``masks`` (both ``N x H x W``); ``log``
    gets one line per epoch.

    A seeded ``val_fraction`` of the images (at least one) is held out and scored by the mean
    Dice of its thresholded logits; training uses random flips, MONAI's Dice + BCE loss and
    Adam. Returns the model of the best validation Dice (eval
    mode, on ``device``; training stops after ``patience`` epochs without improvement) and the
    history (``epoch``, ``train_loss``, ``val_dice``). Runs with the same arguments give
    identical weights on CPU; the global torch RNG state is left as it was.
    """
    check_images(images)
    masks = np.asarray(masks)
    if masks.shape != images.shape:
        raise InputError(f"masks shape {masks.shape} differs from images shape {images.shape}")
    if masks.dtype != bool:
        raise InputError(f"masks must be a bool array, got {masks.dtype}")
    x_all = as_input(images, device)
    y_all = torch.from_numpy(masks).to(device).float()[:, None]
    loss_fn = DiceCELoss(sigmoid=True)
    flips = torch.Generator().manual_seed(seed)

    def batch_loss(model: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
        x, y = _flip(x_all[rows], y_all[rows], flips)
        return loss_fn(_forward(model, x), y)

    def validate(model: torch.nn.Module, parts: list[np.ndarray]) -> float:
        scores = [_dice(_forward(model, x_all[part]) > 0, y_all[part] > 0) for part in parts]
        return torch.cat(scores).mean().item()

    return train_epochs(
        build_unet,
        n_images=len(images),
        batch_loss=batch_loss,
        validate=validate,
        higher_is_better=True,
        score_name="val_dice",
        describe=lambda loss, score: f"loss {loss:.4f}, val Dice {score:.4f}",
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        val_fraction=val_fraction,
        patience=patience,
        seed=seed,
        device=device,
        log=log,
    )


def predict_masks(
    model: torch.nn.Module, images: np.ndarray, *, batch_size: int = 32, device: str = "cpu"
) -> np.ndarray:
    """Bool lung masks (``N x H x W``) of uint8 ``images``: sigmoid > 0.5, holes filled and
    components smaller than `MIN_LUNG_FRACTION` of the image dropped. Moves ``model`` to
    ``device``; CUDA runs in bfloat16 autocast, CPU in float32 (`batched_inference`)."""
    batches = batched_inference(model, images, _forward, batch_size=batch_size, device=device)
    out = np.zeros(images.shape, dtype=bool)
    for rows, logits in batches:
        out[rows] = (logits[:, 0] > 0).cpu().numpy()
    min_size = MIN_LUNG_FRACTION * images.shape[1] * images.shape[2]
    for i, mask in enumerate(out):
        labels, n = ndimage.label(ndimage.binary_fill_holes(mask))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        out[i] = (sizes >= min_size)[labels] & (labels > 0)
    return out


def training_set(
    manifest: pd.DataFrame, masks_path: str | os.PathLike
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(ids, images, masks)`` the UNet learns from: the dataset's generated images and its
    real training images, with their classical masks (real test images are never used)."""
    rows = manifest[(manifest["role"] == "generated") | (manifest["split"] == "train")]
    if len(rows) < 2:
        raise InputError(
            f"the lung UNet needs at least 2 generated or real training images, got {len(rows)}"
        )
    ids = rows["id"].astype(str).tolist()
    _, arrays, _ = read_store(masks_path, ["masks"], ids)
    return ids, load_images(rows["path"].tolist()), arrays["masks"].astype(bool)


def predict_to_store(
    model: torch.nn.Module,
    manifest: pd.DataFrame,
    out_path: str | os.PathLike,
    *,
    device: str = "cpu",
    chunk: int = 256,
) -> None:
    """Segment every manifest image with ``model`` into a mask store, ``chunk`` images at a
    time (memory stays bounded), atomically."""

    def masks() -> Iterator[np.ndarray]:
        for images in image_chunks(manifest["path"].tolist(), chunk):
            yield from predict_masks(model, images, device=device).astype(np.uint8)

    write_masks(out_path, manifest["id"].astype(str).tolist(), masks(), "unet")


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, meta: dict) -> None:
    """Write ``model`` and ``meta`` (str/int/float values only, e.g. epochs, best_val_dice,
    image_size, trained_on) to ``path`` atomically, loadable with ``weights_only=True``."""
    save_model(path, model, format=FORMAT, architecture=ARCHITECTURE, meta=meta)


def load_checkpoint(path: str | os.PathLike) -> tuple[torch.nn.Module, dict]:
    """The UNet (eval mode, CPU) and meta of a checkpoint written by `save_checkpoint`.

    Also accepts a bare ``state_dict`` of the `ARCHITECTURE` UNet (``torch.save(model
    .state_dict(), path)``), with empty meta. Loads with ``weights_only=True``, so files holding
    code are refused; any unusable file raises `InputError`.
    """
    return load_model(
        path,
        format=FORMAT,
        build=build_unet,
        architecture=ARCHITECTURE,
        name="lung UNet",
        fix=_FIX,
    )

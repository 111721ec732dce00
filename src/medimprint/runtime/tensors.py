"""Torch helpers shared by the image models: uint8 images as tensors, batched inference, and
forward passes on images of any size (zero-padded to the network's stride, cropped back)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from medimprint.errors import InputError


def check_images(images: np.ndarray) -> None:
    """Raise `InputError` unless ``images`` is a non-empty-sized uint8 ``N x H x W`` array."""
    if not isinstance(images, np.ndarray) or images.ndim != 3 or images.dtype != np.uint8:
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
        raise InputError(f"images must be a uint8 N x H x W array, got {got}")
    if 0 in images.shape[1:]:
        raise InputError(f"images have an empty size {images.shape[1:]}")


def as_input(images: np.ndarray, device: str) -> torch.Tensor:
    """uint8 ``N x H x W`` -> float32 ``N x 1 x H x W`` in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255)[:, None]


def batched_inference(
    model: torch.nn.Module,
    images: np.ndarray,
    forward: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
    *,
    batch_size: int,
    device: str,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """``forward(model, x)`` of uint8 ``images`` batch by batch, with the rows each covers.
    Checks the images at once; moves ``model`` to ``device`` in eval mode; CUDA runs in bfloat16
    autocast, CPU in float32."""
    check_images(images)
    model = model.to(device).eval()
    cuda = torch.device(device).type == "cuda"

    def batches() -> Iterator[tuple[slice, torch.Tensor]]:
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=cuda):
            for start in range(0, len(images), batch_size):
                rows = slice(start, start + batch_size)
                yield rows, forward(model, as_input(images[rows], device))

    return batches()


def padded_forward(model: torch.nn.Module, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """``model(x)`` for ``N x C x H x W`` inputs of any size: zero-padded at the bottom and right
    to a multiple of ``multiple`` (the network's total stride), then cropped back to ``H x W``."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (0, -width % multiple, 0, -height % multiple))
    return model(padded)[..., :height, :width]


def build_monai(network: type, architecture: Mapping[str, object]) -> torch.nn.Module:
    """A MONAI network from a plain-valued architecture dict (lists become tuples)."""
    return network(**{k: tuple(v) if isinstance(v, list) else v for k, v in architecture.items()})


def total_stride(model: torch.nn.Module, default: list[int]) -> int:
    """The factor a MONAI encoder-decoder shrinks its input by (image sides must divide it)."""
    return int(np.prod(getattr(model, "strides", default)))

"""Feature extractors: uint8 gray images ``N x H x W`` in, float32 ``N x dim`` features out.

`build_extractor` turns a backbone name (`features.registry`) and a weights string into one:
a CNN trunk (`TorchExtractor`; weights ``imagenet``, ``random`` (seeded) or a ``state_dict``
path, see `features.weights`), uniform LBP histograms, frequency fingerprints
(`features.fingerprints`) or raw pixels. torch/torchvision are imported lazily, so importing this
module (and using ``lbp``) does not pay for them.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from medimprint.data.manifest import load_images
from medimprint.errors import InputError
from medimprint.features.networks import build_model
from medimprint.features.registry import BackboneSpec, get_spec
from medimprint.runtime.jobs import pick_device

if TYPE_CHECKING:
    import torch
    from torch import nn


#: Side of the pixel space (area-averaged) in which groups are estimated and the controls run.
PIXEL_SIZE = 64


def build_extractor(
    name: str,
    weights: str = "imagenet",
    *,
    seed: int = 0,
    device: str | None = None,
    input_size: int | None = None,
) -> FeatureExtractor:
    """Build the feature extractor ``name`` with ``weights`` (imagenet, random or a path).

    ``seed`` seeds random initialisation (the global RNG is left untouched); ``device`` None picks
    CUDA when available; ``input_size`` overrides the square input side (CNNs and ``pixels``;
    LBP and the fingerprints always work at native resolution).
    """
    spec = get_spec(name)
    if spec.name == "pixels":
        return PixelExtractor(spec, input_size)
    if not spec.needs_torch:
        return LBPExtractor(spec) if spec.lbp_scales else FingerprintExtractor(spec)
    if not isinstance(weights, str) or not weights:
        raise InputError(f"weights for backbone {name!r} must be imagenet, random or a file path")
    model, source = build_model(spec, weights, seed)
    return TorchExtractor(
        spec, model, weights, source, seed=seed, device=device, input_size=input_size
    )


class FeatureExtractor:
    """Maps uint8 gray images ``N x H x W`` (or ``H x W``, or a list of ``H x W``) to float32
    ``N x dim`` features."""

    name: str
    dim: int
    weights: str
    device: str
    input_size: int
    spec: BackboneSpec

    def __call__(self, images: Any) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, str | int]:
        """Attributes recorded with the features (HDF5-compatible: str and int only)."""
        return {
            "backbone": self.name,
            "weights": self.weights,
            "layer": self.spec.layer,
            "input_size": self.input_size,
            "dim": self.dim,
        }


def _as_image_list(images: Any) -> list[np.ndarray] | np.ndarray:
    """Validate images; return one ``N x H x W`` uint8 array or a list of ``H x W`` arrays."""
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = images[None]
    if isinstance(images, np.ndarray) or hasattr(images, "numpy"):  # numpy or torch
        if images.ndim != 3 or str(images.dtype) not in ("uint8", "torch.uint8"):
            raise ValueError(f"expected uint8 N x H x W images, got {images.dtype} {images.shape}")
        return images
    images = list(images)
    for image in images:
        if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError("expected a sequence of uint8 H x W arrays")
    return images


class LBPExtractor(FeatureExtractor):
    """Uniform local-binary-pattern histograms (skimage ``local_binary_pattern``, no torch).

    For each scale ``(P, R)`` (``lbp``: P=8 R=1; ``lbp_ms``: also P=16 R=2) the rotation-invariant
    uniform codes 0..P+1 are histogrammed into P+2 bins over the interior of the image (a border
    of ceil(R) pixels, where neighbours fall outside, is left out) and normalised to sum 1;
    the scales' histograms are concatenated. Works at native resolution (``input_size`` 0).
    """

    def __init__(self, spec: BackboneSpec):
        self.spec, self.name, self.dim = spec, spec.name, spec.dim
        self.weights, self.device, self.input_size = "none", "cpu", 0

    def _one(self, image: np.ndarray) -> np.ndarray:
        from skimage.feature import local_binary_pattern

        hists = []
        for points, radius in self.spec.lbp_scales:
            border = math.ceil(radius)
            if min(image.shape) <= 2 * border:
                raise InputError(f"image of shape {image.shape} is too small for LBP R={radius}")
            codes = local_binary_pattern(image, points, radius, method="uniform")
            codes = codes[border:-border, border:-border].astype(np.int64).ravel()
            hists.append(np.bincount(codes, minlength=points + 2) / codes.size)
        return np.concatenate(hists).astype(np.float32)

    def __call__(self, images: Any) -> np.ndarray:
        images = _as_image_list(images)
        if hasattr(images, "numpy") and not isinstance(images, np.ndarray):
            images = images.numpy()
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for row, image in enumerate(images):
            out[row] = self._one(np.asarray(image))
        return out

    def describe(self) -> dict[str, str | int]:
        import skimage

        scales = ";".join(f"P={p},R={r:g}" for p, r in self.spec.lbp_scales)
        return {
            **super().describe(),
            "lbp_method": "uniform",
            "lbp_scales": scales,
            "skimage_version": skimage.__version__,
        }


class FingerprintExtractor(FeatureExtractor):
    """Frequency-domain generator fingerprints (`features.fingerprints`: numpy/scipy, no torch).

    Works at native resolution (``input_size`` 0); ``dim`` does not depend on the image size.
    """

    def __init__(self, spec: BackboneSpec):
        from medimprint.features.fingerprints import FINGERPRINTS

        self.spec, self.name, self.dim = spec, spec.name, spec.dim
        self.weights, self.device, self.input_size = "none", "cpu", 0
        self.fingerprint = FINGERPRINTS[spec.name]
        if self.fingerprint.dim != spec.dim:
            raise RuntimeError(f"{spec.name}: fingerprint dim {self.fingerprint.dim} != {spec.dim}")

    def __call__(self, images: Any) -> np.ndarray:
        images = _as_image_list(images)
        if hasattr(images, "numpy") and not isinstance(images, np.ndarray):
            images = images.numpy()
        return self.fingerprint(images)

    def describe(self) -> dict[str, str | int]:
        return {**super().describe(), **self.fingerprint.describe()}


class PixelExtractor(FeatureExtractor):
    """The image shrunk to ``input_size`` squared by area averaging (PIL box filter), scaled to
    [0, 1] and flattened: ``dim = input_size**2``."""

    def __init__(self, spec: BackboneSpec, input_size: int | None = None):
        side = input_size or spec.input_size
        self.spec, self.name, self.dim = spec, spec.name, side * side
        self.weights, self.device, self.input_size = "none", "cpu", side

    def __call__(self, images: Any) -> np.ndarray:
        from PIL import Image

        images = _as_image_list(images)
        if hasattr(images, "numpy") and not isinstance(images, np.ndarray):
            images = images.numpy()
        side = self.input_size
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for row, image in enumerate(images):
            plane = Image.fromarray(np.asarray(image, dtype=np.float32))  # mode "F"
            small = plane.resize((side, side), Image.Resampling.BOX)  # exact means, no rounding
            out[row] = np.asarray(small, dtype=np.float32).ravel() / 255.0
        return out


def _fmt(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:.4g}" for v in values)


@contextlib.contextmanager
def _ieee_fp32(device: str) -> Iterator[None]:
    """On CUDA, run cuDNN convolutions in full fp32 (no TF32) so GPU and CPU features agree."""
    if not device.startswith("cuda"):
        yield
        return
    import torch

    conv = torch.backends.cudnn.conv
    previous = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = previous


class TorchExtractor(FeatureExtractor):
    """A CNN trunk in eval mode; images are resized to ``input_size`` squared and normalised."""

    def __init__(
        self,
        spec: BackboneSpec,
        model: nn.Module,
        weights: str,
        source: str,
        *,
        seed: int,
        device: str | None,
        input_size: int | None,
    ):
        import torch

        self.spec, self.name, self.dim, self.weights = spec, spec.name, spec.dim, weights
        self.source, self.seed = source, seed
        self.device = pick_device(device)
        self.input_size = int(input_size or spec.input_size)
        if self.input_size < 32:
            raise InputError(f"input_size {self.input_size} is too small; use at least 32")
        self.model = model.eval().requires_grad_(False).to(self.device)
        # channels_last (NHWC) is faster on cuDNN and on CPU (oneDNN), notably for depthwise convs
        self.model = self.model.to(memory_format=torch.channels_last)
        self._mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1)

    def _preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 ``N x H x W`` -> normalised float32 ``N x 3 x S x S`` on the device."""
        import torch
        import torch.nn.functional as F

        x = batch.to(self.device, non_blocking=True).float().div_(255).unsqueeze(1)
        size = self.input_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(
                x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        x = (x.expand(-1, 3, -1, -1) - self._mean) / self._std
        return x.contiguous(memory_format=torch.channels_last)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.model(self._preprocess(batch))
        return out.flatten(1).float()

    def __call__(self, images: Any) -> np.ndarray:
        """Features of uint8 images; images of different sizes may come as a list."""
        import torch

        images = _as_image_list(images)
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if isinstance(images, list):
            same = len({im.shape for im in images}) == 1
            groups = [np.stack(images)] if same else [im[None] for im in images]
        else:
            groups = [images]
        groups = [g if isinstance(g, torch.Tensor) else np.ascontiguousarray(g) for g in groups]
        with torch.inference_mode(), _ieee_fp32(self.device):
            outs = [
                self._forward(g if isinstance(g, torch.Tensor) else torch.from_numpy(g))
                for g in groups
            ]
            feats = torch.cat(outs).cpu().numpy().astype(np.float32, copy=False)
        if feats.shape[1] != self.dim:
            raise RuntimeError(f"{self.name}: got {feats.shape[1]} features, expected {self.dim}")
        return feats

    def describe(self) -> dict[str, str | int]:
        import torch
        import torchvision

        from medimprint import __version__

        return {
            **super().describe(),
            "weights_source": self.source,
            "seed": int(self.seed),
            "normalisation": f"(x/255 - mean) / std, mean={_fmt(self.spec.mean)} "
            f"std={_fmt(self.spec.std)}, gray copied to 3 channels",
            "resize": "bilinear antialias, full image to input_size x input_size",
            "torch_version": str(torch.__version__),  # TorchVersion is a str subclass h5py refuses
            "torchvision_version": str(torchvision.__version__),
            "medimprint_version": __version__,
        }


def load_pixels(paths: Sequence[str], size: int = PIXEL_SIZE) -> np.ndarray:
    """Images area-averaged to ``size`` squared, in [0, 1], one row each (the ``pixels``
    extractor's exact box means): the space of the groups check and the controls."""
    return build_extractor("pixels", input_size=size)(load_images(paths)).astype(np.float64)

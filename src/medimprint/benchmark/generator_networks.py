"""The networks of the generator families (`benchmark.generators`): a convolutional VAE, DCGAN's
transposed-conv generator and strided-conv discriminator, an upsample-conv generator with a
spectral-norm discriminator, and the PCA-Gaussian's arrays. Square images whose side is a power
of two; ``log2(size) - 2`` up/down-sampling blocks (4x4 bottleneck)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm


def _widths(size: int, base: int) -> list[int]:
    """Channels at resolutions 4, 8, ..., size/2 (doubling towards 4x4, capped at 8 * base)."""
    n_blocks = int(math.log2(size)) - 2
    return [base * min(2 ** (n_blocks - 1 - i), 8) for i in range(n_blocks)]


class VAE(nn.Module):
    """Convolutional VAE: strided-conv encoder, transposed-conv decoder with sigmoid output."""

    def __init__(self, size: int, latent_dim: int, base: int) -> None:
        super().__init__()
        widths = _widths(size, base)  # widths[i] at resolution 4 * 2**i
        enc: list[nn.Module] = []
        in_ch = 1
        for w in reversed(widths):
            enc += [nn.Conv2d(in_ch, w, 4, 2, 1), nn.LeakyReLU(0.2)]
            in_ch = w
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.to_stats = nn.Linear(widths[0] * 16, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, widths[0] * 16)
        dec: list[nn.Module] = []
        for i, w in enumerate(widths):
            out = widths[i + 1] if i + 1 < len(widths) else 1
            dec.append(nn.ConvTranspose2d(w, out, 4, 2, 1))
            dec.append(nn.ReLU() if i + 1 < len(widths) else nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)
        self.latent_dim = latent_dim
        self.top = widths[0]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.from_latent(z)).view(-1, self.top, 4, 4)
        return self.decoder(h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)


class DCGenerator(nn.Module):
    """DCGAN generator: transposed convs with BatchNorm + ReLU, Tanh output."""

    def __init__(self, size: int, latent_dim: int, base: int) -> None:
        super().__init__()
        widths = _widths(size, base)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        for w, out in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose2d(w, out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], 1, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCDiscriminator(nn.Module):
    """DCGAN discriminator: strided convs, BatchNorm (not on the first layer), LeakyReLU."""

    def __init__(self, size: int, base: int) -> None:
        super().__init__()
        widths = _widths(size, base)
        layers: list[nn.Module] = []
        in_ch = 1
        for j, w in enumerate(reversed(widths)):
            layers.append(nn.Conv2d(in_ch, w, 4, 2, 1, bias=j == 0))
            if j > 0:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2))
            in_ch = w
        layers += [nn.Conv2d(in_ch, 1, 4, 1, 0), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def _dcgan_init(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class _PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (ProGAN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def _repeat2x(x: torch.Tensor) -> torch.Tensor:
    """Repeat each pixel 2x2 (nearest-neighbour upsampling); the result is channels_last."""
    n, c, h, w = x.shape
    x = x.permute(0, 2, 3, 1)[:, :, None, :, None, :].expand(n, h, 2, w, 2, c)
    return x.reshape(n, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


def _sum2x2(x: torch.Tensor) -> torch.Tensor:
    """Sum non-overlapping 2x2 blocks; the result is channels_last."""
    n, c, h, w = x.shape
    x = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c)
    x = x[:, :, 0] + x[:, :, 1]
    return (x[:, :, :, 0] + x[:, :, :, 1]).permute(0, 3, 1, 2)


class _NearestUp2x(torch.autograd.Function):
    """Nearest-neighbour 2x upsampling, as ``F.interpolate(..., mode="nearest")``.

    Both passes are plain copies/adds in channels_last order, several times faster on CPU than
    the generic kernels (whose backward dominated training time).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return _repeat2x(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _sum2x2(grad)


class _AvgPool2x(torch.autograd.Function):
    """2x2 average pooling, as ``F.avg_pool2d(x, 2)``, with fast channels_last passes."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return _sum2x2(x) * 0.25

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _repeat2x(grad * 0.25)


class _Upsample2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NearestUp2x.apply(x)


class _Downsample2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _AvgPool2x.apply(x)


class UpconvGenerator(nn.Module):
    """Generator with nearest-neighbour upsampling + 3x3 convs, pixel norm and LeakyReLU."""

    def __init__(self, size: int, latent_dim: int, base: int) -> None:
        super().__init__()
        widths = _widths(size, base)
        self.fc = nn.Linear(latent_dim, widths[0] * 16)
        layers: list[nn.Module] = []
        for w, out in itertools.pairwise(widths):
            layers += [_Upsample2x(), nn.Conv2d(w, out, 3, 1, 1), _PixelNorm(), nn.LeakyReLU(0.2)]
        layers += [_Upsample2x(), nn.Conv2d(widths[-1], 1, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.norm = _PixelNorm()
        self.latent_dim = latent_dim
        self.top = widths[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc(self.norm(z[:, :, None, None]).flatten(1)), 0.2)
        return self.net(self.norm(h.view(-1, self.top, 4, 4)))


class SNDiscriminator(nn.Module):
    """Spectral-norm discriminator: 3x3 convs, LeakyReLU, average-pool downsampling."""

    def __init__(self, size: int, base: int) -> None:
        super().__init__()
        widths = _widths(size, base)
        layers: list[nn.Module] = []
        in_ch = 1
        for w in reversed(widths):
            layers += [spectral_norm(nn.Conv2d(in_ch, w, 3, 1, 1)), nn.LeakyReLU(0.1)]
            layers.append(_Downsample2x())
            in_ch = w
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        self.fc = spectral_norm(nn.Linear(in_ch * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x)).squeeze(1)


def build_network(family: str, size: int, opts: dict) -> nn.Module:
    """The network that `TrainedGenerator` keeps for ``family``: the generator (the VAE as a
    whole), or for ``pca_gaussian`` its arrays as buffers."""
    if family == "pca_gaussian":
        return PCAGaussian(size, opts["components"])
    if family == "vae":
        return VAE(size, opts["latent_dim"], opts["base_channels"])
    if family == "dcgan":
        return DCGenerator(size, opts["latent_dim"], opts["base_channels"])
    return UpconvGenerator(size, opts["latent_dim"], opts["base_channels"])


class PCAGaussian(nn.Module):
    """The arrays of a ``pca_gaussian`` generator as float64 buffers, so it is saved and loaded
    like the networks: PCA mean and components, and the Gaussian's mean and Cholesky factor."""

    def __init__(self, size: int, components: int) -> None:
        super().__init__()
        shapes = {
            "mean": (size * size,),
            "components": (components, size * size),
            "coef_mean": (components,),
            "coef_chol": (components, components),
        }
        for name, shape in shapes.items():
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))

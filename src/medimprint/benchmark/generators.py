"""Small generative model families trained on real CT slices to make synthetic benchmark images.

Four genuinely different families, each leaving its own fingerprint:

- ``vae``: convolutional VAE (strided-conv encoder, transposed-conv decoder, sigmoid, BCE + KL).
- ``dcgan``: DCGAN (transposed-conv generator with BatchNorm/ReLU/Tanh, strided-conv
  discriminator with LeakyReLU), non-saturating loss, Adam(2e-4, betas 0.5/0.999).
- ``upconv_gan``: generator with nearest-neighbour upsampling + 3x3 convs and pixel norm,
  spectral-norm discriminator with average pooling, hinge loss, Adam(2e-4, betas 0.0/0.9).
- ``pca_gaussian``: PCA of the flattened images with a full-covariance Gaussian over the kept
  component coefficients; samples are reconstructed and clipped (no gradient training).

Architectures work for square images whose side is a power of two from 32 to 256; the number of
up/down-sampling blocks is ``log2(size) - 2`` (4x4 bottleneck).
"""

from __future__ import annotations

import itertools
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from medimprint.errors import InputError
from medimprint.io import atomic_path
from medimprint.names import GENERATOR_FAMILIES
from medimprint.runtime.jobs import pick_device
from medimprint.runtime.progress import Progress

#: Epochs that train each family on ~120 images of 64x64 in about 30-60 s on one CPU core.
DEFAULT_EPOCHS: dict[str, int] = {"vae": 100, "dcgan": 150, "upconv_gan": 100, "pca_gaussian": 1}

#: Default learning rates (``lr=None``).
DEFAULT_LR: dict[str, float] = {"vae": 1e-3, "dcgan": 2e-4, "upconv_gan": 2e-4, "pca_gaussian": 0}

#: Family options and their defaults; ``None`` means "derived from the image size" (see
#: `_resolve_options`): ``base_channels`` is the generator width at the highest resolution (it
#: doubles at each halving, up to 8x), ``d_channels`` the discriminator's.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "vae": {"latent_dim": 64, "base_channels": None, "beta": 1.0},
    "dcgan": {"latent_dim": 64, "base_channels": None, "d_channels": None},
    "upconv_gan": {"latent_dim": 64, "base_channels": None, "d_channels": None},
    "pca_gaussian": {"components": 32},
}

# Default widths at 32/64 px (halved per doubling of the size above 64, at least 8): chosen so a
# default training run on ~120 images of 64x64 takes well under a minute on one CPU core.
_BASE_WIDTH = {"vae": 32, "dcgan": 32, "upconv_gan": 16}
_D_WIDTH = {"dcgan": 16, "upconv_gan": 16}

_FORMAT = "medimprint-generator"
_VERSION = 1
_MIN_SIZE, _MAX_SIZE = 32, 256
_PCA_KEYS = ("mean", "components", "coef_mean", "coef_chol")


# --------------------------------------------------------------------------- validation


def _check_family(family: str) -> None:
    if family not in GENERATOR_FAMILIES:
        raise InputError(
            f"unknown generator family {family!r}; valid families: {', '.join(GENERATOR_FAMILIES)}"
        )


def _check_size(size: int, height: int | None = None) -> None:
    if height is not None and height != size:
        raise InputError(
            f"images are {height}x{size} pixels; generators need square images (resize or crop "
            "them to a square power-of-two size such as 64x64)"
        )
    if size < _MIN_SIZE or size > _MAX_SIZE or size & (size - 1):
        raise InputError(
            f"image size {size} is not supported; generators need a power of two from "
            f"{_MIN_SIZE} to {_MAX_SIZE} (32, 64, 128 or 256)"
        )


def _resolve_options(family: str, options: dict | None, size: int, n_images: int) -> dict:
    """Merge ``options`` into the family defaults; unknown keys raise `InputError`."""
    defaults = DEFAULT_OPTIONS[family]
    options = dict(options or {})
    for key in options:
        if key not in defaults:
            raise InputError(
                f"unknown option {key!r} for generator family {family!r}; valid options: "
                f"{', '.join(defaults) or 'none'}"
            )
    resolved = {**defaults, **options}
    for key, value in resolved.items():
        if key == "beta":
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InputError(f"option 'beta' must be a number >= 0, got {value!r}")
            resolved[key] = float(value)
        elif (value is not None or defaults[key] is not None) and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InputError(f"option {key!r} must be a positive integer, got {value!r}")
    shrink = max(1, size // 64)
    if resolved.get("base_channels", 0) is None:
        resolved["base_channels"] = max(8, _BASE_WIDTH[family] // shrink)
    if resolved.get("d_channels", 0) is None:
        resolved["d_channels"] = max(8, _D_WIDTH[family] // shrink)
    if family == "pca_gaussian":
        resolved["components"] = int(min(resolved["components"], n_images - 1, size * size))
    return resolved


# --------------------------------------------------------------------------- networks


def _widths(size: int, base: int) -> list[int]:
    """Channels at resolutions 4, 8, ..., size/2 (doubling towards 4x4, capped at 8 * base)."""
    n_blocks = int(math.log2(size)) - 2
    return [base * min(2 ** (n_blocks - 1 - i), 8) for i in range(n_blocks)]


class _VAE(nn.Module):
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


class _DCGenerator(nn.Module):
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


class _DCDiscriminator(nn.Module):
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


class _UpconvGenerator(nn.Module):
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


class _SNDiscriminator(nn.Module):
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


def _build_net(family: str, size: int, opts: dict) -> nn.Module:
    if family == "vae":
        return _VAE(size, opts["latent_dim"], opts["base_channels"])
    if family == "dcgan":
        return _DCGenerator(size, opts["latent_dim"], opts["base_channels"])
    return _UpconvGenerator(size, opts["latent_dim"], opts["base_channels"])


# --------------------------------------------------------------------------- result object


@dataclass(eq=False)
class TrainedGenerator:
    """A trained generator: sample synthetic uint8 images from it, save and reload it."""

    family: str
    image_size: int
    config: dict
    history: list[dict] = field(default_factory=list)
    _net: nn.Module | None = field(default=None, repr=False)
    _arrays: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _device: str = field(default="cpu", repr=False)

    def sample(self, n: int, *, seed: int, batch_size: int = 256) -> np.ndarray:
        """Return ``n`` synthetic images (uint8 ``n x H x W``), deterministic for ``seed``."""
        size = self.image_size
        if n < 0 or batch_size < 1 or seed < 0:
            raise ValueError(
                f"need n >= 0, batch_size >= 1 and seed >= 0, got n={n}, "
                f"batch_size={batch_size}, seed={seed}"
            )
        if self.family == "pca_gaussian":
            return self._sample_pca(n, seed)
        assert self._net is not None
        gen = torch.Generator().manual_seed(int(seed))
        z_all = torch.randn(n, self._net.latent_dim, generator=gen)  # CPU: same on any device
        out = np.empty((n, size, size), dtype=np.uint8)
        self._net.eval()
        with torch.no_grad():
            for start in range(0, n, batch_size):
                z = z_all[start : start + batch_size].to(self._device)
                x = self._net(z)[:, 0].float().cpu()
                x = x * 255.0 if self.family == "vae" else (x + 1.0) * 127.5
                out[start : start + len(z)] = x.round().clamp(0, 255).to(torch.uint8).numpy()
        return out

    def _sample_pca(self, n: int, seed: int) -> np.ndarray:
        a = self._arrays
        assert a is not None
        rng = np.random.default_rng(int(seed))
        k = a["coef_chol"].shape[0]
        coefs = rng.standard_normal((n, k)) @ a["coef_chol"].T + a["coef_mean"]
        flat = coefs @ a["components"] + a["mean"]
        img = np.clip(np.rint(flat), 0, 255).astype(np.uint8)
        return img.reshape(n, self.image_size, self.image_size)

    def save(self, path: str | os.PathLike) -> None:
        """Save as a ``torch.save`` dict of tensors and plain Python values (atomic)."""
        state: dict[str, torch.Tensor]
        if self._net is not None:
            state = {k: v.detach().cpu().clone() for k, v in self._net.state_dict().items()}
        else:
            assert self._arrays is not None
            state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self._arrays.items()}
        payload = {
            "format": _FORMAT,
            "version": _VERSION,
            "family": self.family,
            "image_size": int(self.image_size),
            "config": self.config,
            "history": self.history,
            "state": state,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)


def load_generator(path: str | os.PathLike, device: str | None = None) -> TrainedGenerator:
    """Load a generator written by `TrainedGenerator.save` (tensors only; no code executed)."""
    path = Path(path)
    device = pick_device(device)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: generator file not found; train it first") from None
    except pickle.UnpicklingError:
        raise InputError(
            f"{path}: refused: not a file of tensors and plain values (it is corrupt, or holds "
            "pickled objects whose loading could run code); delete it and retrain"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise InputError(
            f"{path}: not a safe medimprint generator file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); delete it and retrain"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise InputError(f"{path}: not a medimprint generator file; delete it and retrain")
    family = payload.get("family")
    if family not in GENERATOR_FAMILIES:
        raise InputError(
            f"{path}: unknown generator family {family!r}; valid families: "
            f"{', '.join(GENERATOR_FAMILIES)}"
        )
    try:
        size = int(payload["image_size"])
        _check_size(size)
        config, state = payload["config"], payload["state"]
        result = TrainedGenerator(family, size, config, list(payload.get("history", [])))
        if family == "pca_gaussian":
            result._arrays = {k: state[k].numpy() for k in _PCA_KEYS}
            return result
        net = _build_net(family, size, config["options"])
        net.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise InputError(
            f"{path}: damaged or incompatible {family} generator file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); delete it and retrain"
        ) from None
    net.to(device).eval()
    result._net = net
    result._device = device
    return result


# --------------------------------------------------------------------------- training


def train_generator(
    images: np.ndarray,
    family: str,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 32,
    lr: float | None = None,
    options: dict | None = None,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainedGenerator:
    """Train a generator of ``family`` on uint8 ``N x H x W`` images.

    Deterministic on CPU for a given ``seed`` (seeds numpy and torch). ``options`` are
    family-specific (see `DEFAULT_OPTIONS`); ``lr=None`` uses `DEFAULT_LR`. ``device=None`` picks
    CUDA when available. The result's ``history`` holds one ``{"epoch", "losses"}`` per epoch.
    """
    _check_family(family)
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise InputError(
            f"generator training needs a uint8 N x H x W image array, got {images.dtype} "
            f"{images.shape}"
        )
    n, h, w = images.shape
    _check_size(w, h)
    if n < 2:
        raise InputError(f"generator training needs at least 2 images, got {n}")
    if epochs < 1 or batch_size < 1:
        raise InputError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    opts = _resolve_options(family, options, w, n)
    lr = DEFAULT_LR[family] if lr is None else float(lr)
    if not lr > 0 and family != "pca_gaussian":
        raise InputError(f"learning rate must be > 0, got {lr}")
    device = pick_device(device)
    log = log or (lambda _msg: None)
    config = {
        "family": family,
        "image_size": int(w),
        "options": opts,
        "seed": int(seed),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": lr,
        "n_train": int(n),
    }
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if family == "pca_gaussian":
        arrays, history = _fit_pca(images, opts["components"], seed)
        log(f"pca_gaussian: {opts['components']} components, {history[0]['losses']}")
        return TrainedGenerator(family, w, config, history, _arrays=arrays)
    shuffle = torch.Generator().manual_seed(int(seed))
    if family == "vae":
        x = torch.from_numpy(images).float().div(255.0).unsqueeze(1).to(device)
        net, history = _train_vae(x, opts, epochs, batch_size, lr, device, shuffle, log)
    else:
        x = torch.from_numpy(images).float().div(127.5).sub(1.0).unsqueeze(1).to(device)
        net, history = _train_gan(family, x, opts, epochs, batch_size, lr, device, shuffle, log)
    net.eval()
    return TrainedGenerator(family, w, config, history, _net=net, _device=device)


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled index batches; a trailing batch of one image is merged into the previous one."""
    perm = torch.randperm(n, generator=gen)
    batches = list(perm.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = torch.cat(batches[-2:])
        batches.pop()
    return batches


def _train_vae(
    x: torch.Tensor,
    opts: dict,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str,
    shuffle: torch.Generator,
    log: Callable[[str], None],
) -> tuple[nn.Module, list[dict]]:
    net = _VAE(x.shape[-1], opts["latent_dim"], opts["base_channels"]).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    beta = opts["beta"]
    history = []
    net.train()
    progress = Progress(epochs, "vae epochs", log=log, every=0)
    for epoch in range(1, epochs + 1):
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
        for idx in _batches(len(x), batch_size, shuffle):
            xb = x[idx.to(device)]
            mu, logvar = net.encode(xb)
            eps = torch.randn(mu.shape, generator=shuffle).to(device)
            recon = net.decode(mu + eps * torch.exp(0.5 * logvar))
            rec = F.binary_cross_entropy(recon, xb, reduction="sum") / len(xb)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(xb)
            loss = rec + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for key, value in (("loss", loss), ("recon", rec), ("kl", kl)):
                sums[key] += value.item() * len(xb)
        losses = {k: v / len(x) for k, v in sums.items()}
        history.append({"epoch": epoch, "losses": losses})
        progress.step(detail=", ".join(f"{k}={v:.4g}" for k, v in losses.items()))
    return net, history


def _train_gan(
    family: str,
    x: torch.Tensor,
    opts: dict,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str,
    shuffle: torch.Generator,
    log: Callable[[str], None],
) -> tuple[nn.Module, list[dict]]:
    size, latent, base = x.shape[-1], opts["latent_dim"], opts["base_channels"]
    if family == "dcgan":
        gnet: nn.Module = _DCGenerator(size, latent, base)
        dnet: nn.Module = _DCDiscriminator(size, opts["d_channels"])
        betas = (0.5, 0.999)
    else:
        gnet = _UpconvGenerator(size, latent, base)
        dnet = _SNDiscriminator(size, opts["d_channels"])
        betas = (0.0, 0.9)
    gnet.to(device).train()
    dnet.to(device).train()
    g_opt = torch.optim.Adam(gnet.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(dnet.parameters(), lr=lr, betas=betas)
    history = []
    progress = Progress(epochs, f"{family} epochs", log=log, every=0)
    for epoch in range(1, epochs + 1):
        sums = {"d_loss": 0.0, "g_loss": 0.0}
        count = 0
        for idx in _batches(len(x), batch_size, shuffle):
            real = x[idx.to(device)]
            b = len(real)
            z = torch.randn(b, latent, generator=shuffle).to(device)
            fake = gnet(z)
            d_real, d_fake = dnet(real), dnet(fake.detach())
            if family == "dcgan":
                d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            else:
                d_loss = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            g_out = dnet(fake)
            # non-saturating loss (-log D(G(z))) for DCGAN, hinge generator loss otherwise
            g_loss = F.softplus(-g_out).mean() if family == "dcgan" else -g_out.mean()
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            sums["d_loss"] += d_loss.item() * b
            sums["g_loss"] += g_loss.item() * b
            count += b
        losses = {k: v / count for k, v in sums.items()}
        history.append({"epoch": epoch, "losses": losses})
        progress.step(detail=", ".join(f"{k}={v:.4g}" for k, v in losses.items()))
    if family == "dcgan":
        _recalibrate_batchnorm(gnet, latent, device, shuffle)
    return gnet, history


def _recalibrate_batchnorm(
    gnet: nn.Module, latent: int, device: str, gen: torch.Generator, batches: int = 4
) -> None:
    """Replace BatchNorm running statistics by exact averages over fresh generator batches."""
    bns = [m for m in gnet.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    gnet.train()
    with torch.no_grad():
        for _ in range(batches):
            gnet(torch.randn(64, latent, generator=gen).to(device))
    for m, momentum in zip(bns, saved, strict=True):
        m.momentum = momentum
    gnet.eval()


def _fit_pca(images: np.ndarray, components: int, seed: int) -> tuple[dict, list[dict]]:
    """Fit PCA and a full-covariance Gaussian over the kept component coefficients."""
    from sklearn.decomposition import PCA

    flat = images.reshape(len(images), -1).astype(np.float64)
    pca = PCA(n_components=components, svd_solver="full", random_state=seed % 2**32)
    coefs = pca.fit_transform(flat)
    cov = np.atleast_2d(np.cov(coefs, rowvar=False))
    cov = cov + 1e-6 * np.eye(len(cov)) * max(float(np.trace(cov)) / len(cov), 1.0)
    arrays = {
        "mean": pca.mean_.astype(np.float64),
        "components": pca.components_.astype(np.float64),
        "coef_mean": coefs.mean(axis=0),
        "coef_chol": np.linalg.cholesky(cov),
    }
    ratio = float(np.sum(pca.explained_variance_ratio_))
    return arrays, [{"epoch": 1, "losses": {"explained_variance_ratio": ratio}}]

"""Small generative model families trained on real CT slices to make synthetic benchmark images.

Four genuinely different families, each leaving its own fingerprint:

- ``vae``: convolutional VAE (strided-conv encoder, transposed-conv decoder, sigmoid, BCE + KL).
- ``dcgan``: DCGAN (transposed-conv generator with BatchNorm/ReLU/Tanh, strided-conv
  discriminator with LeakyReLU), non-saturating loss, Adam(2e-4, betas 0.5/0.999).
- ``upconv_gan``: generator with nearest-neighbour upsampling + 3x3 convs and pixel norm,
  spectral-norm discriminator with average pooling, hinge loss, Adam(2e-4, betas 0.0/0.9).
- ``pca_gaussian``: PCA of the flattened images with a full-covariance Gaussian over the kept
  component coefficients; samples are reconstructed and clipped (no gradient training).

Architectures (`benchmark.generator_networks`) work for square images whose side is a power of
two from 32 to 256. Generators are saved in the checkpoint format of the other models
(`runtime.checkpoints`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from medimprint.benchmark.generator_networks import (
    VAE,
    DCDiscriminator,
    DCGenerator,
    SNDiscriminator,
    UpconvGenerator,
    build_network,
)
from medimprint.errors import InputError
from medimprint.names import GENERATOR_FAMILIES
from medimprint.runtime.checkpoints import load_model, save_model
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

#: Checkpoint format tag (`runtime.checkpoints`); `load_generator` refuses any other.
FORMAT = "medimprint-generator-2"
_MIN_SIZE, _MAX_SIZE = 32, 256
#: The config entries that rebuild a generator's network (the rest are training settings).
_ARCHITECTURE = ("family", "image_size", "options")


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
        """Save as a weights-only checkpoint (`runtime.checkpoints`), atomically: the network
        (for ``pca_gaussian`` its arrays), the family, size and options that rebuild it, and the
        training settings and history."""
        if self._net is not None:
            net = self._net
        else:
            assert self._arrays is not None
            net = build_network(self.family, self.image_size, self.config["options"])
            for key, value in self._arrays.items():
                getattr(net, key).copy_(torch.from_numpy(value))
        settings = {k: v for k, v in self.config.items() if k not in _ARCHITECTURE}
        save_model(
            path,
            net,
            format=FORMAT,
            architecture={k: self.config[k] for k in _ARCHITECTURE},
            meta={**settings, "history": json.dumps(self.history)},
        )


def load_generator(path: str | os.PathLike, device: str | None = None) -> TrainedGenerator:
    """Load a generator written by `TrainedGenerator.save` (tensors only; no code executed)."""
    arch: dict = {}

    def build(architecture: dict) -> nn.Module:
        family, size = architecture["family"], architecture["image_size"]
        _check_family(family)
        _check_size(size)
        arch.update(architecture)
        return build_network(family, size, architecture["options"])

    net, meta = load_model(
        path,
        format=FORMAT,
        build=build,
        architecture=dict.fromkeys(_ARCHITECTURE),
        name="generator",
        fix="delete it and train the generator again",
    )
    history = json.loads(meta.pop("history", "[]"))
    result = TrainedGenerator(arch["family"], arch["image_size"], {**arch, **meta}, history)
    if arch["family"] == "pca_gaussian":
        result._arrays = {k: v.numpy() for k, v in net.state_dict().items()}
        return result
    result._device = pick_device(device)
    result._net = net.to(result._device).eval()
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

    Deterministic on CPU for a given ``seed``; the global RNGs are left as they were.
    ``options`` are family-specific (see `DEFAULT_OPTIONS`); ``lr=None`` uses `DEFAULT_LR`.
    ``device=None`` picks CUDA when available. The result's ``history`` holds one
    ``{"epoch", "losses"}`` per epoch.
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
    if family == "pca_gaussian":
        arrays, history = _fit_pca(images, opts["components"], seed)
        log(f"pca_gaussian: {opts['components']} components, {history[0]['losses']}")
        return TrainedGenerator(family, w, config, history, _arrays=arrays)
    shuffle = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the initial weights; batches and noise come from `shuffle`
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
    net = VAE(x.shape[-1], opts["latent_dim"], opts["base_channels"]).to(device)
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
        gnet: nn.Module = DCGenerator(size, latent, base)
        dnet: nn.Module = DCDiscriminator(size, opts["d_channels"])
        betas = (0.5, 0.999)
    else:
        gnet = UpconvGenerator(size, latent, base)
        dnet = SNDiscriminator(size, opts["d_channels"])
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

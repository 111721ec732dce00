"""Model checkpoints that hold tensors and plain values only, so they load with
``torch.load(..., weights_only=True)`` and no code in a file is ever run.

A checkpoint is ``{"format", "architecture", "state_dict", "meta"}``: the format tag names the
model family, the architecture is the keyword arguments that rebuild the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np
import torch

from medimprint.errors import InputError
from medimprint.io import atomic_path

_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def save_model(
    path: str | os.PathLike,
    model: torch.nn.Module,
    *,
    format: str,
    architecture: Mapping[str, object],
    meta: Mapping[str, object],
) -> None:
    """Write ``model`` (its state_dict, on CPU), its ``architecture`` and ``meta`` (str keys,
    str/int/float values; numpy scalars are converted) to ``path`` atomically."""
    plain = {}
    for key, value in meta.items():
        value = value.item() if isinstance(value, np.generic) else value
        if not isinstance(key, str) or not isinstance(value, str | int | float):
            raise ValueError(f"checkpoint meta {key!r}: need a str key and a str/int/float value")
        plain[key] = next(kind(value) for kind in (str, float, int) if isinstance(value, kind))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoint = {
        "format": format,
        "architecture": dict(architecture),
        "state_dict": state,
        "meta": plain,
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def load_model(
    path: str | os.PathLike,
    *,
    format: str,
    build: Callable[[Mapping[str, object]], torch.nn.Module],
    architecture: Mapping[str, object],
    name: str,
    fix: str,
) -> tuple[torch.nn.Module, dict]:
    """The model (eval mode, CPU) and meta of a checkpoint written by `save_model`.

    ``build`` makes the network from an architecture with the keys of ``architecture`` (the
    default one); a bare ``state_dict`` of that default network is accepted too, with empty
    meta. Any unusable file (missing, not a checkpoint, holding code, another ``format``,
    lacking keys, weights that do not fit) raises `InputError` naming ``path`` and the model
    (``name``) and ending with ``fix``.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: {name} checkpoint not found; {fix}") from None
    except Exception as err:  # any unpickling failure means an unusable file
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        code = [line for line in lines if "global" in line.lower()]
        if code:  # weights_only met a class or function: the file could run code
            raise InputError(
                f"{path}: refused: the file holds more than tensors and plain values "
                f"({code[0][:200]}); checkpoints are loaded with weights_only=True so that no "
                f"code in them runs; {fix}"
            ) from None
        reason = next((ln for ln in lines if not ln.startswith(_BOILERPLATE)), type(err).__name__)
        raise InputError(
            f"{path}: not a loadable {name} checkpoint ({reason[:200]}); {fix}"
        ) from None
    if (
        isinstance(checkpoint, dict)
        and checkpoint
        and all(isinstance(v, torch.Tensor) for v in checkpoint.values())
    ):
        checkpoint = {"format": format, "architecture": architecture, "state_dict": checkpoint}
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != format:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint)
        raise InputError(
            f"{path}: not a medimprint {name} checkpoint (format {found!r}, expected "
            f"{format!r}); {fix}"
        )
    arch, state, meta = (checkpoint.get(k) for k in ("architecture", "state_dict", "meta"))
    if not isinstance(arch, dict) or arch.keys() != architecture.keys():
        raise InputError(
            f"{path}: checkpoint lacks the {name} architecture (keys {sorted(architecture)}); {fix}"
        )
    if not isinstance(state, dict):
        raise InputError(f"{path}: checkpoint lacks its state_dict; {fix}")
    try:
        model = build(arch)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError, AssertionError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise InputError(f"{path}: checkpoint does not fit the {name} ({reason}); {fix}") from None
    return model.eval(), dict(meta) if isinstance(meta, dict) else {}

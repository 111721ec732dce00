"""The training loop the autoencoder and the UNet share: a seeded hold-out, deterministic kernels,
epochs of shuffled mini-batches, a validation score per epoch, early stopping on it, and one
progress line per epoch. Each model brings only its loss and its validation score."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import torch

from medimprint.errors import InputError
from medimprint.runtime.progress import Progress


def train_epochs(
    build: Callable[[], torch.nn.Module],
    *,
    n_images: int,
    batch_loss: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
    validate: Callable[[torch.nn.Module, list[np.ndarray]], float],
    higher_is_better: bool,
    score_name: str,
    describe: Callable[[float, float], str],
    epochs: int,
    batch_size: int,
    lr: float,
    val_fraction: float,
    patience: int,
    seed: int,
    device: str,
    log: Callable[[str], None] | None = None,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train the model ``build`` makes on ``n_images`` rows; return the one of the best
    validation score (eval mode, on ``device``) with the history (``epoch``, ``train_loss``,
    ``score_name``).

    A seeded ``val_fraction`` of the rows is held out (`holdout_split`). The initial weights come
    from ``seed`` inside `torch.random.fork_rng` (the global RNG is left as it was), and training
    runs with deterministic kernels. Each epoch shuffles the training rows and steps Adam (``lr``)
    on ``batch_loss(model, rows)`` (a mean loss over the rows, a tensor on ``device``), then
    scores the model with ``validate(model, parts)`` on the held-out rows cut into batches (under
    `torch.inference_mode`); training stops after ``patience`` epochs without improvement.
    ``describe`` makes the progress line's detail from the epoch's train loss and score.
    """
    rng, val, train = holdout_split(
        n_images,
        epochs=epochs,
        batch_size=batch_size,
        patience=patience,
        val_fraction=val_fraction,
        seed=seed,
    )
    rows = []
    progress = Progress(epochs, "epochs", log=log or (lambda _: None), every=0)
    stopping = EarlyStopping(patience, higher_is_better=higher_is_better)
    with deterministic(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the initial weights; no other torch randomness is used
        model = build().to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        for epoch in range(1, epochs + 1):
            model.train()
            shuffled, total = rng.permutation(train), 0.0
            for start in range(0, len(shuffled), batch_size):
                batch = torch.from_numpy(shuffled[start : start + batch_size]).to(device)
                optimiser.zero_grad(set_to_none=True)
                loss = batch_loss(model, batch)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            model.eval()
            with torch.inference_mode():
                score = validate(model, np.array_split(val, -(-len(val) // batch_size)))
            rows.append((epoch, total / len(train), score))
            progress.step(detail=describe(rows[-1][1], score))
            if stopping.update(model, score):
                break
    return stopping.restore(model), pd.DataFrame(rows, columns=["epoch", "train_loss", score_name])


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic torch kernels (a warning where one has none), restoring the setting."""
    was = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn_only)


def holdout_split(
    n_images: int,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    val_fraction: float,
    seed: int,
) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """Check training settings and hold out a seeded ``val_fraction`` of ``n_images`` (at least
    one, never all): ``(rng, validation rows sorted, training rows)``; the generator goes on to
    shuffle the training rows each epoch."""
    if n_images < 2:
        raise InputError(f"need at least 2 images (to train and to validate), got {n_images}")
    if min(epochs, batch_size, patience) < 1 or not 0 < val_fraction < 1:
        raise ValueError(
            f"need epochs, batch_size, patience >= 1 and 0 < val_fraction < 1, got {epochs}, "
            f"{batch_size}, {patience}, {val_fraction}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_images)
    n_val = min(n_images - 1, max(1, round(val_fraction * n_images)))
    return rng, np.sort(order[:n_val]), order[n_val:]


class EarlyStopping:
    """Keeps a copy of the model state with the best validation score (higher or lower is
    better) and says when ``patience`` epochs in a row brought no improvement."""

    def __init__(self, patience: int, *, higher_is_better: bool) -> None:
        self.patience, self.sign = patience, 1.0 if higher_is_better else -1.0
        self.best, self.state, self.stale = -np.inf, None, 0

    def update(self, model: torch.nn.Module, score: float) -> bool:
        """Record an epoch's validation ``score``; True when training should stop."""
        if self.sign * score > self.best:
            self.best, self.stale = self.sign * score, 0
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.stale += 1
        return self.stale >= self.patience

    def restore(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` with the best state loaded, in eval mode."""
        model.load_state_dict(self.state)
        return model.eval()

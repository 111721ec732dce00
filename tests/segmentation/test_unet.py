"""The lung UNet: learns the classical masks on real CT slices, trains deterministically, pads
odd sizes, cleans its masks, and round-trips through weights_only checkpoints that refuse code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ok_slices

from medimprint.errors import InputError
from medimprint.segmentation.classical import segment_lungs
from medimprint.segmentation.unet import (
    ARCHITECTURE,
    FORMAT,
    build_unet,
    load_checkpoint,
    predict_masks,
    save_checkpoint,
    train_unet,
)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2 * (a & b).sum() / total


def phantoms(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy slices with a bright body and two dark lungs of random size, and the lung masks."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    images, masks = [], []
    for _ in range(n):
        ry, rx = rng.uniform(0.15, 0.3), rng.uniform(0.08, 0.14)
        body = ((y - 0.5) / 0.42) ** 2 + ((x - 0.5) / 0.45) ** 2 <= 1
        lungs = (((y - 0.5) / ry) ** 2 + ((x - 0.3) / rx) ** 2 <= 1) | (
            ((y - 0.5) / ry) ** 2 + ((x - 0.7) / rx) ** 2 <= 1
        )
        image = np.where(body, 190, 20) - 130 * lungs + rng.normal(0, 12, (size, size))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        masks.append(lungs)
    return np.stack(images), np.stack(masks)


def test_learns_the_classical_masks_of_real_slices(luna16: Path, one_torch_thread):
    """64 evenly spaced 'ok' slices at 64 x 64; 48 train (10% of them validate), 16 held out.
    Measured (1 thread, seed 0): held-out mean Dice 0.976 (lowest 0.87, a lung-base slice with
    a tiny lung); other splits and seeds gave 0.91-0.98."""
    images = ok_slices(luna16, 64)
    masks = np.stack([segment_lungs(image) for image in images])
    held_out = np.arange(len(images)) % 4 == 3
    model, history = train_unet(
        images[~held_out], masks[~held_out], epochs=40, batch_size=4, lr=1e-2, patience=10
    )
    assert list(history.columns) == ["epoch", "train_loss", "val_dice"]
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    assert not model.training
    predicted = predict_masks(model, images[held_out])
    assert predicted.shape == (16, 64, 64) and predicted.dtype == bool
    scores = [dice(p, m) for p, m in zip(predicted, masks[held_out], strict=True)]
    print(f"held-out Dice: mean {np.mean(scores):.3f}, min {np.min(scores):.3f}")
    print(history.to_string())
    assert np.mean(scores) >= 0.8
    assert np.median(scores) >= 0.9


def test_training_is_deterministic_and_leaves_the_global_rng_alone(one_torch_thread):
    images, masks = phantoms(8, 32)
    rng_state = torch.random.get_rng_state()
    first, history = train_unet(images, masks, epochs=2, batch_size=4, seed=3)
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    second, again = train_unet(images, masks, epochs=2, batch_size=4, seed=3)
    other, _ = train_unet(images, masks, epochs=2, batch_size=4, seed=4)
    a, b, c = first.state_dict(), second.state_dict(), other.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    pd.testing.assert_frame_equal(history, again)


def test_odd_sizes_are_padded_and_cropped_back(one_torch_thread):
    images, masks = phantoms(6, 60)
    model, history = train_unet(images, masks, epochs=1, batch_size=3)
    assert len(history) == 1
    predicted = predict_masks(model, images[:4], batch_size=3)
    assert predicted.shape == (4, 60, 60) and predicted.dtype == bool
    assert predict_masks(model, np.zeros((2, 13, 21), np.uint8)).shape == (2, 13, 21)


class FixedLogits(torch.nn.Module):
    """Returns the same logits for every input (padded to the input's size)."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.logits = torch.from_numpy(logits).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self.logits.shape
        out = torch.full_like(x, -5.0)
        out[..., :height, :width] = self.logits
        return out


def test_predicted_masks_are_filled_and_specks_dropped():
    logits = np.full((40, 40), -3.0)
    logits[5:25, 5:25] = 3.0  # a lung with a hole
    logits[12:16, 12:16] = -3.0
    logits[30:33, 30:33] = 3.0  # 9 pixels: above 0.002 * 1600 = 3.2, kept
    logits[36, 36] = 3.0  # one pixel: a speck, dropped
    predicted = predict_masks(FixedLogits(logits), np.zeros((3, 40, 40), np.uint8), batch_size=2)
    expected = np.zeros((40, 40), bool)
    expected[5:25, 5:25] = expected[30:33, 30:33] = True
    assert (predicted == expected).all()


def test_checkpoint_round_trip(tmp_path: Path, one_torch_thread):
    images, masks = phantoms(6, 32)
    model, history = train_unet(images, masks, epochs=2, batch_size=3)
    meta = {"epochs": 2, "best_val_dice": history["val_dice"].max(), "trained_on": "phantoms"}
    path = tmp_path / "models" / "lung_unet.pt"
    save_checkpoint(path, model, meta)
    assert [p.name for p in path.parent.iterdir()] == ["lung_unet.pt"]  # no temporary left
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == FORMAT and raw["architecture"]["channels"] == [16, 32, 64, 128]
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta and type(loaded_meta["best_val_dice"]) is float
    state = loaded.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    np.testing.assert_array_equal(predict_masks(loaded, images), predict_masks(model, images))
    with pytest.raises(ValueError, match="meta 'when'"):
        save_checkpoint(path, model, {"when": [1, 2]})
    # a user's bare state_dict of the same UNet loads too, with empty meta
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    bare, bare_meta = load_checkpoint(tmp_path / "bare.pt")
    assert bare_meta == {}
    np.testing.assert_array_equal(predict_masks(bare, images), predict_masks(model, images))


class Payload:
    """Unpickling it creates the folder ``marker``: any code could run instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_malicious_and_unusable_checkpoints_are_refused(tmp_path: Path):
    # the payload is live: plain pickle runs it
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Payload(live)))
    assert live.exists()

    marker = tmp_path / "pwned"
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"state_dict": Payload(marker)}, protocol=2))
    torch.save({"format": FORMAT, "meta": Payload(marker)}, tmp_path / "zipped.pt")
    for path in (plain, tmp_path / "zipped.pt"):
        with pytest.raises(
            InputError, match=r"refused: .*GLOBAL .*mkdir.*weights_only=True.*train_lung_unet"
        ):
            load_checkpoint(path)
    assert not marker.exists()

    (tmp_path / "notes.txt").write_text("not a checkpoint")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    torch.save({"format": FORMAT, "state_dict": {}}, tmp_path / "no_arch.pt")
    small = build_unet({**ARCHITECTURE, "channels": [8, 16, 32, 64]})
    torch.save(small.state_dict(), tmp_path / "wrong_size.pt")
    cases = {
        "missing.pt": "not found",
        "notes.txt": "not a loadable lung UNet checkpoint",
        "other.pt": "format 'other'",
        "no_arch.pt": "lacks the lung UNet architecture",
        "wrong_size.pt": "does not fit the lung UNet",
    }
    for name, message in cases.items():
        with pytest.raises(InputError, match=message) as err:
            load_checkpoint(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)


def test_bad_training_input_is_refused():
    images, masks = phantoms(4, 32)
    with pytest.raises(InputError, match=r"masks shape \(4, 32, 31\) differs"):
        train_unet(images, masks[:, :, :31], epochs=1)
    with pytest.raises(InputError, match="masks must be a bool array"):
        train_unet(images, masks.astype(np.uint8), epochs=1)
    with pytest.raises(InputError, match="uint8 N x H x W"):
        train_unet(images.astype(np.float32), masks, epochs=1)
    with pytest.raises(InputError, match="at least 2 images"):
        train_unet(images[:0], masks[:0], epochs=1)
    with pytest.raises(InputError, match="empty size"):
        predict_masks(build_unet(), np.zeros((1, 0, 8), np.uint8))
    with pytest.raises(ValueError, match="val_fraction"):
        train_unet(images, masks, epochs=1, val_fraction=1.0)

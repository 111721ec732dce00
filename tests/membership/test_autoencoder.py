"""The reconstruction autoencoder: learns real CT slices (and reconstructs them far better than
noise), trains deterministically, pads odd sizes, streams error maps into a store, and
round-trips through weights_only checkpoints that refuse code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ok_slices

from medimprint.errors import InputError
from medimprint.io import read_store, write_gray_png
from medimprint.membership.autoencoder import (
    ARCHITECTURE,
    FORMAT,
    at_input_size,
    build_autoencoder,
    load_checkpoint,
    real_errors_to_store,
    reconstruction_errors,
    save_checkpoint,
    train_autoencoder,
)
from medimprint.segmentation.unet import build_unet
from medimprint.segmentation.unet import save_checkpoint as save_unet


def blobs(n: int, height: int, width: int | None = None, seed: int = 0) -> np.ndarray:
    """Smooth random images: a bright ellipse with a dark one inside, plus a little noise."""
    width = width or height
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    y, x = y / height, x / width
    images = []
    for _ in range(n):
        cy, cx, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.1, 0.25)
        outer = ((y - 0.5) / 0.45) ** 2 + ((x - 0.5) / 0.45) ** 2 <= 1
        inner = (y - cy) ** 2 + (x - cx) ** 2 <= r**2
        image = 20 + 160 * outer - 120 * inner + rng.normal(0, 8, (height, width))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(images)


def test_learns_real_slices_and_reconstructs_them_better_than_noise(luna16: Path, one_torch_thread):
    """32 evenly spaced 'ok' slices at 64 x 64 (a quarter validates). Measured (1 thread,
    seed 0): val loss 0.059 -> 0.019 in 10 epochs; error 0.013 on the slices, 0.13 on noise."""
    images = ok_slices(luna16, 32)
    lines: list[str] = []
    model, history = train_autoencoder(
        images, epochs=10, batch_size=8, lr=3e-3, val_fraction=0.25, patience=10, log=lines.append
    )
    print(history.to_string())
    assert list(history.columns) == ["epoch", "train_loss", "val_loss"]
    assert len(lines) == len(history) == 10 and lines[0].startswith("1/10 epochs (")
    assert history["val_loss"].iloc[-1] < 0.5 * history["val_loss"].iloc[0]
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    assert not model.training
    noise = np.random.default_rng(0).integers(0, 256, (8, 64, 64), dtype=np.uint8)
    seen, unseen = reconstruction_errors(model, images).mean(), reconstruction_errors(model, noise)
    print(f"mean squared error: slices {seen:.4f}, noise {unseen.mean():.4f}")
    assert seen < 0.3 * unseen.mean()


def test_training_is_deterministic_and_leaves_the_global_rng_alone(one_torch_thread):
    images = blobs(8, 32)
    rng_state = torch.random.get_rng_state()
    first, history = train_autoencoder(images, epochs=2, batch_size=4, seed=3)
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    second, again = train_autoencoder(images, epochs=2, batch_size=4, seed=3)
    other, _ = train_autoencoder(images, epochs=2, batch_size=4, seed=4)
    a, b, c = first.state_dict(), second.state_dict(), other.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    pd.testing.assert_frame_equal(history, again)


def test_error_maps_and_odd_sizes(one_torch_thread):
    images = blobs(6, 60)
    model, history = train_autoencoder(images, epochs=1, batch_size=3)
    assert len(history) == 1
    errors = reconstruction_errors(model, images, batch_size=4)
    assert errors.shape == (6, 60, 60) and errors.dtype == np.float32
    assert (errors >= 0).all() and (errors <= 1).all() and errors.max() > 0
    # batching does not change the maps; a single image of another odd size works
    np.testing.assert_allclose(
        reconstruction_errors(model, images, batch_size=1), errors, atol=1e-5
    )
    odd = reconstruction_errors(model, np.full((1, 13, 21), 255, np.uint8))
    assert odd.shape == (1, 13, 21)


def _membership_manifest(tmp_path: Path, images: np.ndarray, roles: list[tuple[str, str]]):
    paths = [tmp_path / "images" / f"{i}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        write_gray_png(path, image)
    return pd.DataFrame(
        {
            "id": [f"{role[0]}{split[:2]}{i}" for i, (role, split) in enumerate(roles)],
            "path": [str(p) for p in paths],
            "role": [role for role, _ in roles],
            "split": [split for _, split in roles],
        }
    )


def test_errors_are_streamed_into_a_store_by_each_splits_model(tmp_path: Path, one_torch_thread):
    """Every real image's error map, in chunks; with a test generator the test images are
    scored by the test split's autoencoder."""
    images = blobs(6, 24)
    roles = [("generated", "train"), ("real", "train"), ("real", "test"), ("real", "train")]
    roles += [("real", "test"), ("generated", "test")]
    manifest = _membership_manifest(tmp_path, images, roles)
    model, other = build_autoencoder(), build_autoencoder()
    torch.nn.init.constant_(next(other.parameters()), 0.5)
    real_errors_to_store({"train": model, "test": other}, manifest, tmp_path / "e.h5", chunk=1)
    stored, arrays, attrs = read_store(tmp_path / "e.h5", ["errors"])
    assert stored == ["rtr1", "rtr3", "rte2", "rte4"] and attrs["model"] == "autoencoder"
    assert arrays["errors"].shape == (4, 24, 24) and arrays["errors"].dtype == np.float32
    # one image per forward pass on both sides, as chunk=1 streams them: a batch of two may take
    # another convolution kernel, whose rounding differs by ~1e-6
    expected = np.concatenate(
        [
            reconstruction_errors(model, images[[1, 3]], batch_size=1),
            reconstruction_errors(other, images[[2, 4]], batch_size=1),
        ]
    )
    np.testing.assert_allclose(arrays["errors"], expected, atol=1e-6)


def test_larger_images_are_area_averaged_to_the_input_size(tmp_path: Path, one_torch_thread):
    """The task's 256 px slices are trained and scored at `input_size` (default 64): exact
    block means, rounded; smaller images pass unchanged; the error maps have that size."""
    images = blobs(3, 32)
    small = at_input_size(images, 8)
    blocks = images.reshape(3, 8, 4, 8, 4).mean(axis=(2, 4))
    assert small.dtype == np.uint8 and small.shape == (3, 8, 8)
    np.testing.assert_array_equal(small, np.round(blocks).astype(np.uint8))
    assert at_input_size(images, 32) is images and at_input_size(images, None) is images
    assert at_input_size(blobs(2, 24, 32), 16).shape == (2, 12, 16)  # aspect kept
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for path, image in zip(paths, images, strict=True):
        write_gray_png(path, image)
    model = build_autoencoder()
    manifest = pd.DataFrame(
        {"id": ["a", "b", "c"], "path": [str(p) for p in paths], "role": "real", "split": "train"}
    )
    models = {"train": model, "test": model}
    real_errors_to_store(models, manifest, tmp_path / "errors.h5", input_size=16)
    _, arrays, _ = read_store(tmp_path / "errors.h5", ["errors"])
    expected = reconstruction_errors(model, at_input_size(images, 16))
    assert arrays["errors"].shape == (3, 16, 16)
    np.testing.assert_allclose(arrays["errors"], expected, atol=1e-6)


class Payload:
    """Unpickling it creates the folder ``marker``: any code could run instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_checkpoint_round_trip_and_refusals(tmp_path: Path, one_torch_thread):
    images = blobs(6, 32)
    model, history = train_autoencoder(images, epochs=2, batch_size=3)
    meta = {"epochs": 2, "best_val_loss": history["val_loss"].min(), "trained_on": "blobs"}
    path = tmp_path / "models" / "autoencoder.pt"
    save_checkpoint(path, model, meta)
    assert [p.name for p in path.parent.iterdir()] == ["autoencoder.pt"]
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == FORMAT and raw["architecture"] == ARCHITECTURE
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta and type(loaded_meta["best_val_loss"]) is float
    assert not loaded.training
    np.testing.assert_array_equal(
        reconstruction_errors(loaded, images), reconstruction_errors(model, images)
    )
    with pytest.raises(ValueError, match="meta 'when'"):
        save_checkpoint(path, model, {"when": [1, 2]})
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    assert load_checkpoint(tmp_path / "bare.pt")[1] == {}

    marker = tmp_path / "pwned"
    torch.save({"format": FORMAT, "meta": Payload(marker)}, tmp_path / "code.pt")
    with pytest.raises(InputError, match=r"refused: .*GLOBAL .*mkdir.*weights_only=True"):
        load_checkpoint(tmp_path / "code.pt")
    assert not marker.exists()
    save_unet(tmp_path / "unet.pt", build_unet(), {})
    small = build_autoencoder({**ARCHITECTURE, "channels": [8, 16, 32]})
    torch.save(small.state_dict(), tmp_path / "wrong_size.pt")
    cases = {
        "missing.pt": "autoencoder checkpoint not found",
        "unet.pt": "format 'medimprint-lung-unet-1'",
        "wrong_size.pt": "does not fit the autoencoder",
    }
    for name, message in cases.items():
        with pytest.raises(InputError, match=message):
            load_checkpoint(tmp_path / name)


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="uint8 N x H x W"):
        train_autoencoder(blobs(4, 16).astype(np.float32), epochs=1)
    with pytest.raises(InputError, match="at least 2 images"):
        train_autoencoder(blobs(1, 16), epochs=1)
    with pytest.raises(ValueError, match="val_fraction"):
        train_autoencoder(blobs(4, 16), epochs=1, val_fraction=0)
    with pytest.raises(InputError, match="empty size"):
        reconstruction_errors(build_autoencoder(), np.zeros((1, 0, 8), np.uint8))


def test_codes_store_every_image_split_by_split(tmp_path: Path, one_torch_thread):
    """Codes of generated and real images land in a feature store the attacks read; sides
    above CODE_GRID cells are pooled, and batching does not change a code."""
    from medimprint.features.stores import read_features
    from medimprint.membership.autoencoder import CODE_GRID, codes_to_store, encode

    images = blobs(5, 24)
    paths = [tmp_path / f"{i}.png" for i in range(5)]
    for path, image in zip(paths, images, strict=True):
        write_gray_png(path, image)
    manifest = pd.DataFrame(
        {
            "id": ["g0", "g1", "r0", "r1", "r2"],
            "path": [str(p) for p in paths],
            "role": ["generated"] * 2 + ["real"] * 3,
            "split": ["train"] * 4 + ["test"],
        }
    )
    model = build_autoencoder()
    codes_to_store({"train": model, "test": model}, manifest, tmp_path / "codes.h5", chunk=2)
    ids, codes = read_features(tmp_path / "codes.h5")
    assert ids == ["g0", "g1", "r0", "r1", "r2"]
    assert codes.shape == (5, 64 * 3 * 3)  # 24 px / stride 8 = 3 x 3 cells of 64 channels
    np.testing.assert_allclose(codes, encode(model, images, batch_size=1), atol=1e-5)
    big = encode(model, np.zeros((1, 8 * (CODE_GRID + 4), 8 * (CODE_GRID + 4)), np.uint8))
    assert big.shape == (1, 64 * CODE_GRID * CODE_GRID)

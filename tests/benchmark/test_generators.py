"""medimprint.benchmark.generators: training, sampling, persistence and family fingerprints."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medimprint.benchmark.generators import (
    FORMAT,
    TrainedGenerator,
    load_generator,
    train_generator,
)
from medimprint.errors import InputError
from medimprint.names import GENERATOR_FAMILIES as FAMILIES

SIZE = 32
# Short runs that still leave each family's fingerprint (seconds per family at 32x32 on CPU).
EPOCHS = {"vae": 15, "dcgan": 15, "upconv_gan": 15, "pca_gaussian": 1}


def make_blobs(n: int, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Smooth random images: a bright disc ("body") with dark blurred blobs ("lungs")."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(0.4, 0.6, 2)
        radius = rng.uniform(0.3, 0.45)
        img = 50 + 170 / (1 + np.exp(((yy - cy) ** 2 + (xx - cx) ** 2 - radius**2) * 80))
        for _ in range(rng.integers(2, 5)):
            by, bx = rng.uniform(0.25, 0.75, 2)
            sigma = rng.uniform(0.04, 0.12)
            img -= 120 * np.exp(-((yy - by) ** 2 + (xx - bx) ** 2) / (2 * sigma**2))
        img += rng.normal(0, 3, img.shape)
        out[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return make_blobs(64)


@pytest.fixture(scope="module")
def trained(images: np.ndarray) -> dict[str, TrainedGenerator]:
    return {
        family: train_generator(
            images, family, seed=0, epochs=EPOCHS[family], batch_size=16, device="cpu"
        )
        for family in FAMILIES
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_shape_and_determinism(trained: dict[str, TrainedGenerator], family: str) -> None:
    gen = trained[family]
    assert gen.family == family
    assert gen.image_size == SIZE
    assert gen.config["options"]
    assert len(gen.history) == EPOCHS[family]
    assert all(set(h) == {"epoch", "losses"} for h in gen.history)
    a = gen.sample(12, seed=1)
    assert a.shape == (12, SIZE, SIZE)
    assert a.dtype == np.uint8
    np.testing.assert_array_equal(a, gen.sample(12, seed=1))
    assert not np.array_equal(a, gen.sample(12, seed=2))
    assert len(np.unique(a.reshape(12, -1), axis=0)) == 12  # samples differ from each other
    small_batches = gen.sample(12, seed=1, batch_size=5)
    assert np.abs(a.astype(int) - small_batches).max() <= 1
    assert gen.sample(0, seed=1).shape == (0, SIZE, SIZE)


@pytest.mark.parametrize("family", FAMILIES)
def test_training_is_deterministic(images: np.ndarray, family: str) -> None:
    runs = [
        train_generator(images[:24], family, seed=5, epochs=2, batch_size=8, device="cpu")
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].sample(6, seed=0), runs[1].sample(6, seed=0))
    assert runs[0].history == runs[1].history


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip(trained: dict[str, TrainedGenerator], family: str, tmp_path) -> None:
    gen = trained[family]
    path = tmp_path / "sub" / f"{family}.pt"
    gen.save(path)
    assert path.exists()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    loaded = load_generator(path, device="cpu")
    assert loaded.family == family
    assert loaded.image_size == SIZE
    assert loaded.config == gen.config
    assert loaded.history == gen.history
    np.testing.assert_array_equal(loaded.sample(10, seed=3), gen.sample(10, seed=3))


def test_vae_loss_decreases(images: np.ndarray) -> None:
    gen = train_generator(images, "vae", seed=1, epochs=8, batch_size=16, device="cpu")
    losses = [h["losses"]["loss"] for h in gen.history]
    assert [h["epoch"] for h in gen.history] == list(range(1, 9))
    assert losses[-1] < losses[0]


def test_log_receives_progress(images: np.ndarray) -> None:
    messages: list[str] = []
    train_generator(images[:16], "dcgan", seed=0, epochs=2, log=messages.append, device="cpu")
    assert len(messages) == 2
    assert messages[0].startswith("1/2 dcgan epochs (") and "left): d_loss=" in messages[0]
    assert "done): " in messages[1]


class _Malicious:
    """Pickles to a call of ``os.mkdir``: loading it must not run the call."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_load_refuses_pickled_code(tmp_path) -> None:
    marker = tmp_path / "was_executed"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "family": "vae", "x": _Malicious(str(marker))}, path)
    with pytest.raises(InputError, match=r"evil\.pt: refused"):
        load_generator(path)
    assert not marker.exists()


def test_load_rejects_unknown_family_and_missing_file(tmp_path) -> None:
    path = tmp_path / "odd.pt"
    torch.save(
        {
            "format": FORMAT,
            "architecture": {"family": "diffusion", "image_size": 32, "options": {}},
            "state_dict": {},
            "meta": {},
        },
        path,
    )
    with pytest.raises(InputError, match=r"odd\.pt.*diffusion"):
        load_generator(path)
    with pytest.raises(InputError, match=r"missing\.pt"):
        load_generator(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"junk\.pt"):
        load_generator(tmp_path / "junk.pt")


def test_bad_family_is_input_error(images: np.ndarray) -> None:
    with pytest.raises(InputError, match="stylegan") as err:
        train_generator(images, "stylegan", seed=0, epochs=1)
    for family in FAMILIES:
        assert family in str(err.value)


@pytest.mark.parametrize("shape", [(4, 48, 48), (4, 16, 16), (4, 512, 512), (4, 32, 64)])
def test_bad_size_is_input_error(shape: tuple[int, int, int]) -> None:
    images = np.zeros(shape, dtype=np.uint8)
    with pytest.raises(InputError, match=r"square|power of two"):
        train_generator(images, "vae", seed=0, epochs=1)


def test_bad_array_and_options(images: np.ndarray) -> None:
    with pytest.raises(InputError, match="uint8"):
        train_generator(images.astype(np.float32), "vae", seed=0, epochs=1)
    with pytest.raises(ValueError, match="latent_size"):
        train_generator(images, "vae", seed=0, epochs=1, options={"latent_size": 8})
    with pytest.raises(ValueError, match="components"):
        train_generator(images, "pca_gaussian", seed=0, epochs=1, options={"components": 0})


def test_options_are_used(images: np.ndarray) -> None:
    gen = train_generator(
        images[:16], "pca_gaussian", seed=0, epochs=1, options={"components": 100}
    )
    assert gen.config["options"]["components"] == 15  # clipped to n - 1
    gen = train_generator(
        images[:16], "vae", seed=0, epochs=1, options={"latent_dim": 8, "base_channels": 8}
    )
    assert gen.config["options"]["latent_dim"] == 8
    assert gen.sample(2, seed=0).shape == (2, SIZE, SIZE)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_architectures_scale_with_size(size: int) -> None:
    images = np.random.default_rng(0).integers(0, 256, (4, size, size), dtype=np.uint8)
    for family in ("vae", "dcgan", "upconv_gan"):
        gen = train_generator(
            images, family, seed=0, epochs=1, batch_size=4, options={"base_channels": 8}
        )
        assert gen.sample(2, seed=0).shape == (2, size, size)


def _fft_features(samples: np.ndarray) -> np.ndarray:
    x = samples.astype(np.float64) / 255.0
    spectrum = np.abs(np.fft.fft2(x - x.mean(axis=(1, 2), keepdims=True)))
    return np.log1p(spectrum).reshape(len(samples), -1)


def test_families_leave_distinguishable_fingerprints(
    trained: dict[str, TrainedGenerator],
) -> None:
    per_family = 60
    features, labels = [], []
    for k, family in enumerate(FAMILIES):
        samples = trained[family].sample(per_family, seed=100 + k)
        features.append(_fft_features(samples))
        labels += [k] * per_family
    x, y = np.concatenate(features), np.array(labels)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    accuracy = cross_val_score(clf, x, y, cv=folds).mean()
    assert accuracy > 0.7, f"family attribution accuracy {accuracy:.2f} (chance 0.25)"

"""Backbone registry, weights handling (random, packaged, local path, offline ImageNet) and LBP."""

from __future__ import annotations

import os
import pickle
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from medimprint.errors import InputError
from medimprint.features.extractors import build_extractor
from medimprint.features.networks import lite0_module
from medimprint.features.registry import BACKBONES
from medimprint.features.weights import fetch_weights
from medimprint.io import read_gray_png

CNNS = [name for name, spec in BACKBONES.items() if spec.needs_torch]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Three non-square noisy gradients (exercises the resize)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 48)[None, None, :] + rng.normal(0, 20, (3, 40, 48))
    return np.clip(ramp, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def ct_slices(luna16: Path) -> np.ndarray:
    paths = sorted((luna16 / "slices").glob("*.png"))[100:400:100]
    return np.stack([read_gray_png(p) for p in paths])


def test_registry_dims():
    dims = {name: spec.dim for name, spec in BACKBONES.items()}
    assert dims == {
        "resnet50": 2048,
        "densenet121": 1024,
        "mobilenet_v2": 1280,
        "efficientnet_b0": 1280,
        "vgg16": 25088,
        "efficientnet_lite0": 1280,
        "lbp": 10,
        "lbp_ms": 28,
        "spectrum": 32,
        "dct": 64,
        "spectrum_residual": 32,
        "dct_residual": 64,
        "pixels": 1024,
    }


def test_pixels_are_the_area_averaged_image():
    image = np.zeros((1, 64, 64), dtype=np.uint8)
    image[0, :32, :] = 200  # top half bright
    image[0, 0, 0] = 0
    extractor = build_extractor("pixels", input_size=16)
    feats = extractor(image).reshape(16, 16)
    assert extractor.dim == 256 and feats.dtype == np.float32
    np.testing.assert_allclose(feats[8:], 0.0)
    np.testing.assert_allclose(feats[1:8], 200 / 255, rtol=1e-6)
    assert feats[0, 0] == pytest.approx(200 * 15 / 16 / 255, rel=1e-3)  # a 4x4 box with one 0


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(InputError, match=r"resnet50.*lbp"):
        build_extractor("resnet51")


@pytest.mark.parametrize("name", CNNS)
def test_cnn_shape_and_seeded_determinism(name, images):
    first = build_extractor(name, "random", seed=0, input_size=64, device="cpu")
    feats = first(images)
    assert feats.shape == (3, BACKBONES[name].dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and feats.std() > 0
    again = build_extractor(name, "random", seed=0, input_size=64, device="cpu")(images)
    np.testing.assert_array_equal(feats, again)
    other = build_extractor(name, "random", seed=1, input_size=64, device="cpu")(images)
    assert not np.allclose(feats, other, rtol=1e-2, atol=0)  # random-init features can be tiny
    assert first(images[1]).shape == (1, BACKBONES[name].dim)  # a single H x W image


def test_random_init_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_extractor("mobilenet_v2", "random", seed=5, input_size=64)
    assert torch.equal(torch.rand(3), expected)


def test_mixed_sizes_in_a_list(images):
    ext = build_extractor("mobilenet_v2", "random", input_size=64)
    mixed = [images[0], images[1][:30, :30]]
    np.testing.assert_allclose(ext(mixed)[1], ext(images[1][None, :30, :30])[0], rtol=1e-5)
    assert ext(np.rot90(images, axes=(1, 2))).shape == (3, 1280)  # a negative-stride view


def test_describe_is_hdf5_friendly():
    info = build_extractor("resnet50", "random", input_size=64).describe()
    assert info["backbone"] == "resnet50" and info["layer"] == "avgpool"
    assert info["input_size"] == 64 and info["dim"] == 2048 and info["weights"] == "random"
    assert all(isinstance(v, str | int) for v in info.values())
    assert {"torch_version", "torchvision_version"} <= set(info)


def test_device_requested_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(InputError, match="CUDA is not available"):
        build_extractor("mobilenet_v2", "random", device="cuda")
    assert build_extractor("mobilenet_v2", "random", input_size=64).device == "cpu"


# ------------------------------------------------------------------- efficientnet_lite0


def test_lite0_packaged_weights_load_strictly_and_classify_a_cat():
    """The packaged file fits the module exactly, and the net recognises skimage's cat."""
    from skimage.data import chelsea
    from torchvision.models import ResNet50_Weights

    model = lite0_module().eval()
    state = torch.load(fetch_weights("efficientnet_lite0", "imagenet"), weights_only=True)
    model.load_state_dict(state, strict=True)
    ext = build_extractor("efficientnet_lite0", "imagenet", device="cpu")
    x = torch.from_numpy(chelsea()).permute(2, 0, 1)  # RGB uint8
    x = torch.nn.functional.interpolate(
        x[None].float(), size=(224, 224), mode="bilinear", antialias=True
    )
    with torch.inference_mode():
        probs = model((x - 127) / 128).softmax(1)[0]
    categories = ResNet50_Weights.DEFAULT.meta["categories"]
    assert "cat" in categories[int(probs.argmax())]  # Egyptian cat, tabby, tiger cat
    assert probs.max() > 0.5
    assert ext.describe()["weights_source"].startswith("efficientnet-lite0-57934424.pth")


def test_lite0_imagenet_features_differ_from_random(ct_slices):
    pretrained = build_extractor("efficientnet_lite0", "imagenet", input_size=112)(ct_slices)
    random = build_extractor("efficientnet_lite0", "random", input_size=112)(ct_slices)
    assert pretrained.shape == (3, 1280) and np.isfinite(pretrained).all()
    assert not np.allclose(pretrained, random, atol=1e-3)
    # BatchNorm running statistics keep activations in ReLU6's working range: pooled features
    # are neither dead nor saturated.
    assert 0.05 < pretrained.mean() < 3 and (pretrained.max(0) > 0).mean() > 0.5


# ---------------------------------------------------------------------- weights handling


def test_checkpoint_path_round_trip(tmp_path, images):
    trained = build_extractor("mobilenet_v2", "random", seed=7, input_size=64)
    trunk = tmp_path / "trunk.pt"
    torch.save(trained.model.state_dict(), trunk)
    loaded = build_extractor("mobilenet_v2", str(trunk), input_size=64)
    np.testing.assert_array_equal(loaded(images), trained(images))
    assert loaded.describe()["weights"] == str(trunk)
    assert "sha256=" in loaded.describe()["weights_source"]
    # A full classifier state_dict (any number of classes, DataParallel prefix) loads too.
    import torchvision

    full = torchvision.models.mobilenet_v2(weights=None, num_classes=3)
    full.load_state_dict(trained.model.state_dict(), strict=False)
    wrapped = tmp_path / "full.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in full.state_dict().items()}}, wrapped)
    np.testing.assert_array_equal(
        build_extractor("mobilenet_v2", str(wrapped), input_size=64)(images), trained(images)
    )


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps(Exploit(), protocol=2))
    with pytest.raises(InputError, match=r"evil\.pt.*weights_only"):
        build_extractor("mobilenet_v2", str(bad))
    assert not marker.exists()


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save(build_extractor("efficientnet_lite0", "random").model.state_dict(), path)
    with pytest.raises(InputError, match=r"resnet\.pt.*does not fit backbone 'mobilenet_v2'"):
        build_extractor("mobilenet_v2", str(path))


def test_missing_weights_file_is_refused():
    with pytest.raises(InputError, match="not 'imagenet', 'random' or an existing"):
        build_extractor("resnet50", "/no/such/weights.pt")


def _offline(*args, **kwargs):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_imagenet_offline_with_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    start = time.monotonic()
    with pytest.raises(InputError) as err:
        build_extractor("resnet50", "imagenet")
    message = str(err.value)
    assert "'resnet50'" in message and "random" in message and "efficientnet_lite0" in message
    assert str(tmp_path / "hub" / "checkpoints" / "resnet50-") in message
    assert "fetch_weights" in message and "Traceback" not in message
    assert time.monotonic() - start < 5


def test_fetch_weights_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    cached = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not really weights")
    assert fetch_weights("vgg16", "imagenet") == str(cached)
    with pytest.raises(InputError, match=r"vgg16-397923af\.pth.*delete the file"):
        build_extractor("vgg16", "imagenet")  # a corrupt cache file is reported, not a crash
    assert fetch_weights("vgg16", "random") is None
    assert fetch_weights("lbp", "imagenet") is None
    assert fetch_weights("efficientnet_lite0", "imagenet").endswith(".pth")


def test_imagenet_loads_from_the_cache(tmp_path, monkeypatch, images):
    """The torchvision ImageNet path, offline: stand-in weights placed in an empty cache."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    torch.manual_seed(11)
    stand_in = torchvision.models.mobilenet_v2(weights=None)
    cached = tmp_path / "hub" / "checkpoints" / "mobilenet_v2-7ebf99e0.pth"
    cached.parent.mkdir(parents=True)
    torch.save(stand_in.state_dict(), cached)
    ext = build_extractor("mobilenet_v2", "imagenet", input_size=64)
    assert ext.describe()["weights_source"] == "MobileNet_V2_Weights.IMAGENET1K_V2"
    expected = build_extractor("mobilenet_v2", "random", seed=11, input_size=64)(images)
    np.testing.assert_array_equal(ext(images), expected)


# -------------------------------------------------------------------------------- LBP


def test_lbp_known_patterns():
    ext = build_extractor("lbp_ms")
    constant = np.full((16, 16), 100, np.uint8)
    checker = ((np.indices((16, 16)).sum(0) % 2) * 255).astype(np.uint8)
    feats = ext(np.stack([constant, checker]))
    assert feats.shape == (2, 28) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[:, :10].sum(1), 1)
    np.testing.assert_allclose(feats[:, 10:].sum(1), 1)
    assert feats[0, 8] == 1 and feats[0, 10 + 16] == 1  # all neighbours >= centre: code P
    np.testing.assert_allclose(feats[1, [0, 8]], [0.5, 0.5])  # dark and bright squares alternate
    assert ext.describe()["lbp_scales"] == "P=8,R=1;P=16,R=2"


def test_lbp_on_ct_is_rotation_invariant(ct_slices):
    ext = build_extractor("lbp", "imagenet", input_size=64)  # weights/input_size do not apply
    feats = ext(ct_slices)
    assert feats.shape == (3, 10) and ext.input_size == 0
    np.testing.assert_allclose(feats.sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(ext(np.rot90(ct_slices, axes=(1, 2)).copy()), feats, atol=1e-6)
    assert not np.allclose(feats[0], feats[2])


def test_importing_backbones_does_not_need_torch():
    import subprocess
    import sys

    code = "import sys, medimprint.features.extractors; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_only_torchvision_imagenet_weights_are_downloaded():
    from medimprint.features.weights import downloads_weights

    assert downloads_weights("resnet50", "imagenet")
    assert not downloads_weights("resnet50", "random")
    assert not downloads_weights("efficientnet_lite0", "imagenet")
    assert not downloads_weights("lbp", "imagenet")

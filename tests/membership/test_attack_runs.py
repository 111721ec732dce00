"""Attack runs on a membership dataset: choices on the training split, test labels last."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medimprint.errors import InputError
from medimprint.membership.runs import run_attack, run_ensemble
from medimprint.names import ATTACKS, IMAGE_ATTACKS
from medimprint.names import attack_run_id as run_id


def _case(
    seed: int = 0, memorised: bool = True, dim: int = 12
) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Generated images are near-copies of the used ones (or independent draws)."""
    rng = np.random.default_rng(seed)
    used, not_used = rng.normal(size=(40, dim)), rng.normal(size=(40, dim))
    source = used if memorised else rng.normal(size=(40, dim))
    generated = np.repeat(source, 5, axis=0) + 0.05 * rng.normal(size=(200, dim))
    rows = [(f"g{i:03d}", "generated", "train", "") for i in range(200)]
    for label in ("1", "0"):  # rows in the order of `used`, then `not_used`
        split = ["test", "train"] * 20
        rows += [(f"r{label}{i:02d}", "real", split[i], label) for i in range(40)]
    manifest = pd.DataFrame(rows, columns=["id", "role", "split", "label"])
    return manifest, manifest["id"].tolist(), np.vstack([generated, used, not_used])


@pytest.mark.parametrize("attack", ATTACKS)
def test_memorised_images_are_found_and_test_labels_are_read_last(attack):
    image = attack in IMAGE_ATTACKS  # compares blocks of 16 x 16 pixel images
    manifest, ids, features = _case(dim=256 if image else 12)
    space = "pixels" if image else "cnn"
    run, search = run_attack(manifest, ids, features, attack, space=space, n_boot=0)
    assert run.metrics["auc_test"][0] > 0.9 and run.metrics["f1_test"][0] > 0.8
    assert (search is not None) == (attack == "monte_carlo")
    blind = manifest.copy()
    blind.loc[blind["split"] == "test", "label"] = ""
    again, _ = run_attack(blind, ids, features, attack, space=space, n_boot=0)
    assert again.scores["used"].tolist() == run.scores["used"].tolist()
    assert "f1_test" not in again.metrics
    if image:
        with pytest.raises(InputError, match="compares image blocks"):
            run_attack(manifest, ids, features, attack, space="cnn", n_boot=0)


def test_independent_generator_leaks_nothing():
    manifest, ids, features = _case(seed=1, memorised=False)
    run, _ = run_attack(manifest, ids, features, "gan_leaks", space="pixels", n_boot=0)
    assert 0.25 < run.metrics["auc_test"][0] < 0.75


def test_ensemble_keeps_the_informative_attack():
    manifest, ids, features = _case(seed=2)
    informative, _ = run_attack(manifest, ids, features, "gan_leaks", space="cnn", n_boot=0)
    noise = informative.scores.assign(score=np.random.default_rng(0).normal(size=80))
    runs = {run_id("gan_leaks", "cnn"): informative.scores, run_id("noise", "cnn"): noise}
    run, subsets = run_ensemble(manifest, runs, n_boot=0)
    assert run.metrics["members"][0] == 1 and len(subsets) == 3
    assert run.metrics["auc_test"][0] > 0.9


def test_reconstruction_runs_use_the_papers_rule():
    from medimprint.membership.runs import run_reconstruction

    manifest = _case()[0]
    real = manifest[manifest["role"] == "real"]
    rng = np.random.default_rng(3)
    errors = rng.uniform(0, 0.01, size=(len(real), 16, 16)).astype(np.float32)
    used = (real["label"] == "1").to_numpy()
    errors[used, 4:12, 4:12] += 0.05  # used images reconstruct worse in the middle
    for method in ("mean_mse", "ssim"):
        run = run_reconstruction(manifest, real["id"].tolist(), errors, method, n_boot=0)
        assert run.threshold == 0.0 and run.metrics["f1_test"][0] == 1.0, method
    with pytest.raises(InputError, match="no reconstruction errors"):
        run_reconstruction(manifest, real["id"].tolist()[1:], errors[1:], "ssim", n_boot=0)

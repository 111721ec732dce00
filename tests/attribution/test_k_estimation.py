"""estimate_k: choosing the number of clusters (generators) from features alone."""

import numpy as np
import pytest

from medimprint.attribution import k_estimation
from medimprint.attribution.k_estimation import DEFAULT_CRITERION, K_CRITERIA, estimate_k
from medimprint.errors import InputError


def blobs(k: int, n_per: int = 25, dim: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (k, dim))
    return centres[np.repeat(np.arange(k), n_per)] + rng.normal(0, 0.4, (k * n_per, dim))


@pytest.mark.parametrize("criterion", K_CRITERIA)
@pytest.mark.parametrize("k", [3, 5])
def test_recovers_k_of_separated_blobs(criterion, k):
    found, scores = estimate_k(blobs(k), k_min=2, k_max=8, criterion=criterion)
    assert found == k
    assert sorted(scores) == list(range(2, 9))
    assert all(isinstance(v, float) and np.isfinite(v) for v in scores.values())


@pytest.mark.parametrize("criterion", ["silhouette", "gap"])
def test_hierarchical_clustering_also_works(criterion):
    found, _ = estimate_k(blobs(4), k_max=6, criterion=criterion, method="hierarchical")
    assert found == 4


def test_subsampling_keeps_the_answer(monkeypatch):
    for name in ("SILHOUETTE_SAMPLE", "EIGENGAP_SAMPLE", "GAP_SAMPLE"):
        monkeypatch.setattr(k_estimation, name, 60)
    for criterion in K_CRITERIA:
        assert estimate_k(blobs(3, n_per=40), k_max=6, criterion=criterion)[0] == 3


@pytest.mark.parametrize("criterion", K_CRITERIA)
def test_deterministic_for_a_seed(criterion):
    x = blobs(3, seed=1) + np.random.default_rng(2).normal(0, 3, (75, 12))  # overlapping
    assert estimate_k(x, criterion=criterion, seed=3) == estimate_k(x, criterion=criterion, seed=3)


def test_default_criterion_is_a_criterion():
    assert DEFAULT_CRITERION in K_CRITERIA


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k_min": 1}, "k_min"),
        ({"k_min": 5, "k_max": 4}, "k_min"),
        ({"k_max": 75}, "n - 1 = 74"),
        ({"criterion": "elbow"}, "unknown k criterion"),
        ({"method": "dbscan"}, "unknown clustering method"),
    ],
)
def test_validates_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        estimate_k(blobs(3), **kwargs)


def test_rejects_non_finite_features():
    x = blobs(3)
    x[0, 0] = np.nan
    with pytest.raises(InputError, match="finite"):
        estimate_k(x)

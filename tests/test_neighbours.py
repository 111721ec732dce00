"""Nearest neighbours: chunked exact distances and leaving out a query's own key."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from medimprint import neighbours
from medimprint.neighbours import nearest_distances


def test_nearest_distances_chunked_equal_brute_force_and_leave_one_out(monkeypatch):
    monkeypatch.setattr(neighbours, "WORKING_MEMORY", 0.01)  # a few rows per chunk
    rng = np.random.default_rng(1)
    query, reference = rng.normal(size=(50, 8)), rng.normal(size=(300, 8))
    brute = cdist(query, reference)
    np.testing.assert_allclose(nearest_distances(query, reference), brute.min(axis=1))

    ids = [f"r{i}" for i in range(300)]
    loo = nearest_distances(reference, reference, exclude_same=(ids, ids))
    own = cdist(reference, reference)
    assert nearest_distances(reference, reference).max() == 0.0  # without: itself at 0
    assert loo.min() > 0
    np.testing.assert_allclose(loo, np.sort(own, axis=1)[:, 1])
    # Only rows whose id is in the reference set leave a row out.
    mixed = nearest_distances(reference[:2], reference, exclude_same=(["r0", "new"], ids))
    assert mixed[0] == pytest.approx(loo[0]) and mixed[1] == 0.0

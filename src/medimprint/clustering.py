"""Feature reduction and clustering (scikit-learn), as in the paper's attribution grid."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from medimprint.errors import InputError
from medimprint.names import CLUSTERING_METHODS, PCA_REDUCERS

#: Reducer name (`names.PCA_REDUCERS`) -> fraction of variance PCA keeps (None: no reduction).
REDUCERS: dict[str, float | None] = {
    name: None if name == "none" else int(name.removeprefix("pca")) / 100 for name in PCA_REDUCERS
}
LINKAGES = ("ward", "average", "complete", "single")


def reduce_features(features: np.ndarray, reducer: str, *, seed: int = 0) -> np.ndarray:
    """Standardise features, then apply the named reducer (PCA keeping a variance fraction)."""
    if reducer not in REDUCERS:
        raise InputError(f"unknown reducer {reducer!r}; use one of {sorted(REDUCERS)}")
    scaled = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    variance = REDUCERS[reducer]
    if variance is None:
        return scaled
    return PCA(n_components=variance, svd_solver="full", random_state=seed).fit_transform(scaled)


def cluster(
    features: np.ndarray, k: int, method: str, *, linkage: str = "ward", seed: int = 0
) -> np.ndarray:
    """Cluster rows of ``features`` into ``k`` groups; returns integer labels 0..k-1."""
    n = len(features)
    if not 2 <= k <= n:
        raise InputError(f"cannot make {k} clusters of {n} images; k must be in [2, {n}]")
    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=10, random_state=seed)
    elif method == "hierarchical":
        if linkage not in LINKAGES:
            raise InputError(f"unknown linkage {linkage!r}; use one of {list(LINKAGES)}")
        model = AgglomerativeClustering(n_clusters=k, linkage=linkage)
    else:
        raise InputError(
            f"unknown clustering method {method!r}; use one of {list(CLUSTERING_METHODS)}"
        )
    return model.fit_predict(features).astype(int)

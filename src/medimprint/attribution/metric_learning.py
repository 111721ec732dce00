"""A feature metric learned on the labelled training generators, applied before clustering.

`GeneratorMetric` is fit on the training split (features + generator labels) and maps the
features of another split (the mixed test set) into a space where generators separate better.
Fit standardises the training features and projects them on their PCA (at most
``n_samples - 1`` dims, for a stable covariance), then learns, by ``kind``:

- ``lda``: linear discriminant analysis (``solver="eigen"``, Ledoit-Wolf ``shrinkage="auto"``),
  at most ``n_classes - 1`` dims. With 3 training generators that is 2 dims, too few to keep an
  unseen generator apart.
- ``lda_pca``: the LDA dims plus the top principal components of the training data's residual
  (orthogonal to the LDA directions), each scaled to unit within-generator standard deviation;
  ``n_components`` dims in all (None: residual components up to 90% of its variance).
- ``whiten``: within-class whitening ``z -> S_w^(-1/2) z``, ``S_w`` the pooled within-generator
  covariance (Ledoit-Wolf shrunk). Keeps every dim (``n_components``: PCA dims kept before
  whitening) and gives each direction unit within-generator variance, so directions where
  images of one generator vary a lot (content, anatomy) shrink relative to the rest.

`transform` standardises the features it is given with their own statistics (per split, as
`medimprint.attribution.runs.cluster_split` does), then applies the learned map. Standardising the
test split with the *training* statistics failed on an unseen generator: its features can lie
many training standard deviations out in dims where the seen generators hardly vary, and
k-means then splits it and merges the seen ones (demo, EfficientNet-Lite0: ARI 0.23 vs 1.0).
Cluster the output as is: re-standardising it undoes the whitening.

How `DEFAULT_KIND` was chosen: fit on 3 generators, k-means (k=4) on a test set of 4, mean ARI
(no metric / lda / lda_pca / whiten): synthetic, large shared nuisance 0.00 / 0.52 / 0.48 /
0.78; no nuisance 0.81 / 0.62 / 0.81 / 0.83; unseen generator off the seen ones' span 0.00 /
0.52 / 0.41 / 0.65; unseen generator along the nuisance 0.00 / 0.49 / 0.40 / 0.44; LBP of CT
slices under 4 degradations (6 draws) 0.68 / 0.52 / 0.52 / 0.95; demo generators,
EfficientNet-Lite0 1.00 / 0.86 / 1.00 / 1.00, random ResNet-50 0.54 / 0.65 / 0.62 / 0.96, LBP
0.87 / 0.66 / 0.66 / 0.96. Whitening was best or tied everywhere but one synthetic case.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import ledoit_wolf
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from medimprint.clustering import reduce_features
from medimprint.errors import InputError
from medimprint.names import METRIC_KINDS

#: The kind that separated an unseen generator best in the measurements above.
DEFAULT_KIND = "whiten"
#: lda_pca with n_components None keeps residual components up to this variance fraction.
RESIDUAL_VARIANCE = 0.90


def _within_class(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows of ``x`` minus their class mean."""
    centred = x.copy()
    for c in np.unique(labels):
        centred[labels == c] -= x[labels == c].mean(axis=0)
    return centred


def _inverse_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors / np.sqrt(np.maximum(values, 1e-12 * values.max()))) @ vectors.T


class GeneratorMetric:
    """Learned linear map (sklearn-style ``fit`` / ``transform``) that separates generators."""

    def __init__(self, kind: str = DEFAULT_KIND, n_components: int | None = None, seed: int = 0):
        self.kind = kind
        self.n_components = n_components
        self.seed = seed

    def _check_fit(self, x: np.ndarray, labels: np.ndarray) -> None:
        if self.kind not in METRIC_KINDS:
            raise InputError(f"unknown metric kind {self.kind!r}; use one of {list(METRIC_KINDS)}")
        if x.ndim != 2 or not np.isfinite(x).all():
            raise InputError(f"features must be a finite 2-D array, got shape {x.shape}")
        if len(labels) != len(x):
            raise InputError(f"{len(labels)} labels for {len(x)} feature rows")
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise InputError(
                f"a generator metric needs at least 2 labelled generators; got {len(classes)}"
            )
        if counts.min() < 2:
            raise InputError("every training generator needs at least 2 images")
        if not np.ptp(x, axis=0).any():
            raise InputError(
                "the training features do not vary (constant or identical images in this "
                "feature space): nothing to learn; check the images or use reducer none"
            )
        if not _within_class(x, labels).any() and self.kind != "lda":
            raise InputError(
                "every training generator's images have identical features (a collapsed "
                "generator or duplicated images): a generator metric needs spread within "
                "generators; use reducer none or pca95"
            )
        if self.n_components is not None and self.n_components < 1:
            raise InputError(f"n_components must be >= 1 or None, got {self.n_components}")

    def fit(self, features: np.ndarray, labels: np.ndarray) -> GeneratorMetric:
        """Learn the map from training ``features`` and their generator ``labels``."""
        x = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        self._check_fit(x, labels)
        self.n_features_in_ = x.shape[1]
        dims = min(x.shape[1], len(x) - 1)
        if self.kind == "whiten" and self.n_components is not None:
            dims = min(dims, self.n_components)
        self.pca_ = PCA(n_components=dims, svd_solver="full", random_state=self.seed)
        z = self.pca_.fit_transform(reduce_features(x, "none"))
        self.projection_ = getattr(self, f"_fit_{self.kind}")(z, labels)
        self.n_features_out_ = self.projection_.shape[1]
        return self

    def _lda(self, z: np.ndarray, labels: np.ndarray, dims: int) -> np.ndarray:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto", n_components=dims)
        return lda.fit(z, labels).scalings_[:, :dims]

    def _fit_lda(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        most = len(np.unique(labels)) - 1
        return self._lda(z, labels, min(most, self.n_components or most))

    def _fit_lda_pca(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        lda = self._fit_lda(z, labels)
        basis, _ = np.linalg.qr(lda)
        residual = z - (z @ basis) @ basis.T
        pca = PCA(svd_solver="full", random_state=self.seed).fit(residual)
        ratio = pca.explained_variance_ratio_
        if self.n_components is None:
            extra = int(np.searchsorted(np.cumsum(ratio), RESIDUAL_VARIANCE)) + 1
        else:
            extra = max(self.n_components - lda.shape[1], 0)
        extra = min(extra, int((ratio > 1e-10).sum()))  # no null directions
        directions = pca.components_[:extra].T
        spread = _within_class(z @ directions, labels).std(axis=0)
        return np.hstack([lda, directions / np.maximum(spread, 1e-12)])

    def _fit_whiten(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        cov, _ = ledoit_wolf(_within_class(z, labels), assume_centered=True)
        return _inverse_sqrt(cov)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Map ``features`` (rows = images) into the learned space."""
        if not hasattr(self, "projection_"):
            raise InputError("GeneratorMetric is not fitted; call fit(features, labels) first")
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_ or len(x) < 2:
            raise InputError(
                f"expected at least 2 rows of {self.n_features_in_} features, got {x.shape}"
            )
        return self.pca_.transform(reduce_features(x, "none")) @ self.projection_

    def fit_transform(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``fit`` then ``transform`` the same features."""
        return self.fit(features, labels).transform(features)

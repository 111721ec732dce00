"""Membership-inference attacks on image features, as per-image scores (higher: more likely used
to train the generator). Beyond the paper's methods A and B (`membership.regions`,
`membership.error_maps`); their ensemble is `membership.ensemble`:

- `gan_leaks_scores`: calibrated full black-box GAN-Leaks (Chen et al., CCS 2020), the distance
  to the nearest non-member reference image minus the distance to the nearest generated image;
- `monte_carlo_scores`: Monte Carlo attack (Hilprecht et al., PETS 2019), the fraction of
  generated images within epsilon (`choose_epsilon` picks epsilon on the training split);
- `patch_leaks_scores`: GAN-Leaks per aligned image block, for texture memorised in one region
  of a slice that a whole-slice distance averages away;
- `domias_scores`: DOMIAS (van Breugel et al., AISTATS 2023), the log density ratio of the
  generated to the reference images, by Gaussian kernel density estimates in PCA space.

Calibrations of the nearest-generated distance that read no label are in
`membership.calibrations`.

The reference set is made of real images known not to be used (the not-used training images).
Every choice (epsilon) reads the labelled training split only and ranks by
the cross-validated AUC on grouped folds (`membership.cv_auc`); thresholds come from
`membership.best_threshold`. Reference distances and densities of labelled images leave out
their whole group (patient, block: `medimprint.data.groups`), so that a slice is never found by
its labelled neighbour. All functions are pure: arrays in, arrays (or tables) out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from medimprint.errors import InputError
from medimprint.membership.folds import FOLDS, cv_auc
from medimprint.membership.metrics import column_aucs
from medimprint.neighbours import (
    as_rows,
    chunked_distances,
    excluded_counts,
    exclusion_codes,
    nearest_distances,
)

#: Candidate quantiles of the training images' nearest-generated distances for epsilon.
EPSILON_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75)
#: Side of the square blocks compared by `patch_leaks_scores`, in pixels of the pixel space.
PATCH = 8
#: How `patch_leaks_scores` per block become one score: candidates of the selection.
PATCH_AGGREGATES = {
    "mean": lambda s: s.mean(axis=1),
    "q75": lambda s: np.quantile(s, 0.75, axis=1),
    "max": lambda s: s.max(axis=1),
}


def gan_leaks_scores(
    query: np.ndarray,
    generated: np.ndarray,
    reference: np.ndarray,
    query_keys: Sequence | None,
    reference_keys: Sequence,
) -> np.ndarray:
    """Calibrated GAN-Leaks (Chen et al., CCS 2020): ``d_ref(x) - d_gen(x)``, the nearest
    distance to the reference (not-used) images minus the nearest distance to the generated
    images; the reference distance leaves out the reference rows whose key (id, or group)
    equals the query's (``query_keys`` None: none left out, for images outside the reference's
    groups). The reference stands in for the paper's reference generator trained without
    ``x``."""
    d_gen = nearest_distances(query, generated)
    exclude = None if query_keys is None else (query_keys, reference_keys)
    d_ref = nearest_distances(query, reference, exclude_same=exclude)
    return d_ref - d_gen


def image_patches(rows: np.ndarray, patch: int) -> np.ndarray:
    """Rows of square images (``side**2`` pixels each) as ``rows x patches x patch**2`` blocks
    of ``patch`` x ``patch`` pixels, row-major over the image."""
    rows = as_rows(rows, "images")
    side = math.isqrt(rows.shape[1])
    if side * side != rows.shape[1] or side % patch:
        raise InputError(
            f"patch attack: features of {rows.shape[1]} values are no square image whose side "
            f"is a multiple of {patch}; run it in a pixel space (backbone 'pixels', input_size "
            "a multiple of the patch size)"
        )
    n, cells = len(rows), side // patch
    blocks = rows.reshape(n, cells, patch, cells, patch).transpose(0, 1, 3, 2, 4)
    return blocks.reshape(n, cells * cells, patch * patch)


def patch_leaks_scores(
    query: np.ndarray,
    generated: np.ndarray,
    reference: np.ndarray,
    query_keys: Sequence | None,
    reference_keys: Sequence,
    *,
    patch: int = PATCH,
) -> np.ndarray:
    """Calibrated GAN-Leaks per image patch: for each ``patch`` x ``patch`` block of a square
    pixel image, the nearest distance to the same block of the reference images minus that to
    the same block of the generated images (query rows x patches). A generator that memorised
    a slice's texture in one region reproduces that block closely even where the whole slice
    is not reproduced; CT slices are aligned, so blocks are compared in place."""
    q, g, r = (image_patches(x, patch) for x in (query, generated, reference))
    exclude = None if query_keys is None else (query_keys, reference_keys)
    out = np.empty(q.shape[:2])
    for j in range(q.shape[1]):
        d_gen = nearest_distances(q[:, j], g[:, j])
        d_ref = nearest_distances(q[:, j], r[:, j], exclude_same=exclude)
        out[:, j] = d_ref - d_gen
    return out


def _neighbour_fractions(
    query: np.ndarray, generated: np.ndarray, epsilons: np.ndarray
) -> np.ndarray:
    """Query rows x epsilons: fraction of generated rows within each epsilon (chunked)."""
    query, generated = as_rows(query, "query"), as_rows(generated, "generated")
    eps = np.asarray(epsilons, dtype=np.float64)
    counts = chunked_distances(
        query,
        generated,
        None,
        lambda d: np.stack([(d <= e).sum(axis=1) for e in eps], axis=1),
        share=0.5,
    )
    return counts / len(generated)


def monte_carlo_scores(query: np.ndarray, generated: np.ndarray, epsilon: float) -> np.ndarray:
    """Monte Carlo attack (Hilprecht et al., PETS 2019): the fraction of generated rows within
    Euclidean distance ``epsilon`` of each query row."""
    return _neighbour_fractions(query, generated, np.array([epsilon]))[:, 0]


def choose_epsilon(
    train_query: np.ndarray,
    train_labels: np.ndarray,
    generated: np.ndarray,
    *,
    quantiles: Sequence[float] = EPSILON_QUANTILES,
    folds: int = FOLDS,
    seed: int = 0,
    groups: Sequence | None = None,
) -> tuple[float, pd.DataFrame]:
    """Epsilon of `monte_carlo_scores` among ``quantiles`` of the training images'
    nearest-generated distances, chosen by `rank_epsilons`. Returns epsilon and the search
    table (quantile, epsilon, cv_auc_train, auc_train)."""
    epsilons = epsilon_candidates(train_query, generated, quantiles)
    fractions = monte_carlo_variants(train_query, generated, epsilons)
    best, search = rank_epsilons(
        fractions, train_labels, epsilons, quantiles, folds=folds, seed=seed, groups=groups
    )
    return float(epsilons[best]), search


def rank_epsilons(
    fractions: np.ndarray,
    train_labels: np.ndarray,
    epsilons: np.ndarray,
    quantiles: Sequence[float] = EPSILON_QUANTILES,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    groups: Sequence | None = None,
) -> tuple[int, pd.DataFrame]:
    """The best column of the training images' `monte_carlo_variants` (one per epsilon): the
    best cross-validated AUC on grouped folds of the training split (threshold-free), ties to
    the higher training AUC, then the earlier quantile. Returns its index and the search table
    (quantile, epsilon, cv_auc_train, auc_train)."""
    labels = np.asarray(train_labels, dtype=int)
    search = pd.DataFrame(
        {
            "quantile": np.asarray(quantiles, dtype=float),
            "epsilon": epsilons,
            "cv_auc_train": cv_auc(fractions, labels, folds=folds, seed=seed, groups=groups),
            "auc_train": column_aucs(labels, fractions),
        }
    )
    best = search.fillna({"cv_auc_train": -np.inf, "auc_train": -np.inf}).sort_values(
        ["cv_auc_train", "auc_train"], ascending=False, kind="stable"
    )
    return int(best.index[0]), search


def epsilon_candidates(
    train_query: np.ndarray, generated: np.ndarray, quantiles: Sequence[float] = EPSILON_QUANTILES
) -> np.ndarray:
    """The candidate epsilons: ``quantiles`` of the training images' nearest-generated
    distances (labels are not read)."""
    return np.quantile(nearest_distances(train_query, generated), quantiles)


def monte_carlo_variants(
    query: np.ndarray, generated: np.ndarray, epsilons: np.ndarray
) -> np.ndarray:
    """`monte_carlo_scores` of each query row at every epsilon (rows x epsilons)."""
    return _neighbour_fractions(query, generated, np.asarray(epsilons, dtype=np.float64))


# --- DOMIAS: density ratio -------------------------------------------------------------------


def scott_bandwidth(x: np.ndarray) -> float:
    """Scott's rule for an isotropic Gaussian kernel: ``sigma * n ** (-1 / (d + 4))`` with
    ``sigma`` the mean per-dimension standard deviation of the n x d data."""
    n, d = x.shape
    sigma = float(np.mean(x.std(axis=0, ddof=1))) if n > 1 else 1.0
    return (sigma or 1.0) * n ** (-1.0 / (d + 4))


def gaussian_log_density(
    query: np.ndarray,
    data: np.ndarray,
    bandwidth: float,
    *,
    exclude_same: tuple[Sequence, Sequence] | None = None,
) -> np.ndarray:
    """Log density of a Gaussian KDE of ``data`` at each query row; the same values as
    ``sklearn.neighbors.KernelDensity(bandwidth=bandwidth).fit(data).score_samples(query)``,
    but leaving out the data rows whose key equals the query's (``exclude_same = (query_keys,
    data_keys)``: ids or groups) when given. Removing the self term from KernelDensity's
    total instead cancels catastrophically (it is often the whole density), hence the direct
    chunked log-sum-exp."""
    query, data = as_rows(query, "query"), as_rows(data, "data")
    exclusion = exclusion_codes(len(query), exclude_same, len(data))
    d = data.shape[1]
    log_norm = -0.5 * d * np.log(2 * np.pi * bandwidth**2)

    def log_sum(sq: np.ndarray) -> np.ndarray:
        sq *= -0.5 / bandwidth**2
        return logsumexp(sq, axis=1)

    log_sums = chunked_distances(query, data, exclusion, log_sum, metric="sqeuclidean", share=0.25)
    members = len(data) - excluded_counts(exclusion, len(query)).astype(np.float64)
    with np.errstate(divide="ignore"):
        return log_sums + log_norm - np.log(members)


def domias_scores(
    query: np.ndarray,
    generated: np.ndarray,
    reference: np.ndarray,
    query_keys: Sequence | None,
    reference_keys: Sequence,
    *,
    dims: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """DOMIAS (van Breugel et al., AISTATS 2023): ``log p_gen(x) - log p_ref(x)``.

    Features are standardised and projected by a whitened PCA, both fit on the generated rows
    alone, to ``dims`` components (fewer when the data has fewer). (Fitting them on the
    reference too let its labelled not-used images shape the components: on luna16_mixed_db1
    that gave a cross-validated training AUC of 1.000 in the autoencoder's code space and
    0.436 on the test split, whose images were in no fit.) The generated and reference
    densities are Gaussian KDEs with Scott's-rule bandwidths (`scott_bandwidth`, each on its
    own reduced set); for a query with a key, the reference density and its bandwidth leave out
    the reference rows whose key (id, or group) equals the query's, so a labelled not-used image
    is scored exactly as one outside the reference.
    """
    generated, reference = as_rows(generated, "generated"), as_rows(reference, "reference")
    query = as_rows(query, "query")
    scaler = StandardScaler()
    pool = scaler.fit_transform(generated)
    dims = max(1, min(dims, pool.shape[1], len(pool) - 1))
    if not pool.any():  # standardised constant columns are all 0
        raise InputError(
            "DOMIAS: the generated features do not vary (constant or identical images in this "
            "feature space); check the images or drop this space from attacks.spaces"
        )
    pca = PCA(n_components=dims, whiten=True, random_state=seed).fit(pool)
    del pool
    # whitening divides by each component's spread: drop the components without any
    keep = pca.explained_variance_ > 1e-10 * pca.explained_variance_.max()
    reduced = pca.transform(scaler.transform(np.vstack([generated, reference])))[:, keep]
    g, r = reduced[: len(generated)], reduced[len(generated) :]
    q = pca.transform(scaler.transform(query))[:, keep]
    log_gen = gaussian_log_density(q, g, scott_bandwidth(g))
    if query_keys is None:
        return log_gen - gaussian_log_density(q, r, scott_bandwidth(r))
    log_ref = np.empty(len(q))
    query_keys, reference_keys = np.asarray(query_keys, str), np.asarray(reference_keys, str)
    if len(reference_keys) != len(r) or len(query_keys) != len(q):
        raise InputError(f"DOMIAS: {len(query_keys)} query keys, {len(reference_keys)} reference")
    for key in np.unique(query_keys):  # the reference without the query's group, bandwidth too
        rows, rest = query_keys == key, r[reference_keys != key]
        log_ref[rows] = gaussian_log_density(q[rows], rest, scott_bandwidth(rest))
    return log_gen - log_ref

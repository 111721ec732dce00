"""Membership-inference attacks against a generator, as per-image scores (higher: more likely
used to train it), plus a rank-average ensemble of them.

The paper's method B works on reconstruction-error maps of an autoencoder trained on the
generated images: a real image is assigned to the nearer of the used / not-used training
centroids, by mean error (`mean_mse_scores`) or by SSIM of the error map (`ssim_scores`); its
decision is ``score > 0``. Beyond the paper, on image features:

- `gan_leaks_scores`: calibrated full black-box GAN-Leaks (Chen et al., CCS 2020), the distance
  to the nearest non-member reference image minus the distance to the nearest generated image;
- `monte_carlo_scores`: Monte Carlo attack (Hilprecht et al., PETS 2019), the fraction of
  generated images within epsilon (`choose_epsilon` picks epsilon on the training split);
- `domias_scores`: DOMIAS (van Breugel et al., AISTATS 2023), the log density ratio of the
  generated to the reference images, by Gaussian kernel density estimates in PCA space.

The reference set is made of real images known not to be used (the not-used training images).
Every choice (epsilon, ensemble members) reads the labelled training split only, as
`medimprint.membership` does; thresholds come from `membership.best_threshold`. All functions
are pure: arrays in, arrays (or tables) out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from skimage.metrics import structural_similarity
from sklearn.decomposition import PCA
from sklearn.metrics import pairwise_distances_chunked
from sklearn.preprocessing import StandardScaler

from medimprint.errors import InputError
from medimprint.membership import FOLDS, auc, cross_validated_decisions, f1

#: Candidate quantiles of the training images' nearest-generated distances for epsilon.
EPSILON_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75)
#: Attacks up to which `choose_ensemble` tries every non-empty subset (greedy above).
EXHAUSTIVE_MAX = 6
#: Working memory of one chunk of a distance matrix, in MiB.
WORKING_MEMORY = 256


# --- Paper method B: reconstruction-error maps ---------------------------------------------


def _class_split(errors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    errors, labels = np.asarray(errors, dtype=np.float64), np.asarray(labels, dtype=int)
    if len(errors) != len(labels):
        raise InputError(f"{len(errors)} training error maps but {len(labels)} labels")
    if not (labels == 1).any() or not (labels == 0).any():
        raise InputError("method B needs both used and not-used training error maps")
    return errors[labels == 1], errors[labels == 0]


def _class_sums(
    train: np.ndarray, labels: np.ndarray, query: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per query, the sum and count of the used and of the not-used training rows, without the
    query's own row when the queries are the training rows (``query`` None: leave-one-out,
    so that training scores are made as a new image's would be)."""
    used, not_used = _class_split(train, labels)
    sums = np.stack([used.sum(axis=0), not_used.sum(axis=0)])
    counts = np.array([len(used), len(not_used)], dtype=np.float64)
    if query is not None:
        n = len(query)
        return (
            np.broadcast_to(sums[0], (n, *sums.shape[1:])),
            np.full(n, counts[0]),
            np.broadcast_to(sums[1], (n, *sums.shape[1:])),
            np.full(n, counts[1]),
        )
    if counts.min() < 2:
        raise InputError("method B needs at least two used and two not-used training images")
    labels = np.asarray(labels, dtype=int)
    own = train.reshape(len(train), *sums.shape[1:])
    is_used = (labels == 1).reshape(-1, *([1] * (own.ndim - 1)))
    sum_used = sums[0] - np.where(is_used, own, 0.0)
    sum_not = sums[1] - np.where(is_used, 0.0, own)
    return sum_used, counts[0] - (labels == 1), sum_not, counts[1] - (labels == 0)


def mean_mse_scores(
    train_errors: np.ndarray, train_labels: np.ndarray, query_errors: np.ndarray | None = None
) -> np.ndarray:
    """``|e - c_not_used| - |e - c_used|`` of each query's mean error ``e``, with ``c_*`` the
    mean of ``e`` over the used / not-used training maps; positive means nearer the used
    centroid (the paper's decision). Without ``query_errors``, the training maps are scored,
    each against centroids that leave it out."""
    train = np.asarray(train_errors, dtype=np.float64)
    e_train = train.reshape(len(train), -1).mean(axis=1)
    query = None if query_errors is None else np.asarray(query_errors, dtype=np.float64)
    sum_used, n_used, sum_not, n_not = _class_sums(e_train, train_labels, query)
    e = e_train if query is None else query.reshape(len(query), -1).mean(axis=1)
    return np.abs(e - sum_not / n_not) - np.abs(e - sum_used / n_used)


def ssim_scores(
    train_errors: np.ndarray, train_labels: np.ndarray, query_errors: np.ndarray | None = None
) -> np.ndarray:
    """``SSIM(map, mean_used) - SSIM(map, mean_not_used)`` of each query's N x H x W error map,
    with the mean maps over the used / not-used training images; positive means more similar to
    the used mean (the paper's decision). Without ``query_errors``, the training maps are scored,
    each against mean maps that leave it out.

    SSIM (``skimage.metrics.structural_similarity``, 7 x 7 window, so H, W >= 7) needs the data
    range of the maps; it is fixed to the max - min over all training maps, so a query's score
    depends on the training split only.
    """
    train = np.asarray(train_errors, dtype=np.float64)
    if train.ndim != 3:
        raise InputError(f"error maps must be N x H x W, got shape {train.shape}")
    query = None if query_errors is None else np.asarray(query_errors, dtype=np.float64)
    sum_used, n_used, sum_not, n_not = _class_sums(train, train_labels, query)
    data_range = float(train.max() - train.min()) or 1.0
    out = []
    for i, error in enumerate(train if query is None else query):
        mean_used, mean_not = sum_used[i] / n_used[i], sum_not[i] / n_not[i]
        s_used = structural_similarity(error, mean_used, data_range=data_range)
        s_not = structural_similarity(error, mean_not, data_range=data_range)
        out.append(s_used - s_not)
    return np.asarray(out, dtype=np.float64)


# --- Distances to the generated and reference sets -----------------------------------------


def _self_columns(
    n_query: int, exclude_self_ids: tuple[Sequence, Sequence] | None, n_reference: int
) -> np.ndarray:
    """For each query row, the reference row with the same id (-1: none)."""
    if exclude_self_ids is None:
        return np.full(n_query, -1)
    query_ids, reference_ids = exclude_self_ids
    if len(query_ids) != n_query or len(reference_ids) != n_reference:
        raise InputError(
            f"ids for self-exclusion: {len(query_ids)} query ids for {n_query} rows, "
            f"{len(reference_ids)} reference ids for {n_reference} rows"
        )
    column = {key: j for j, key in enumerate(reference_ids)}
    if len(column) != n_reference:
        raise InputError("duplicate reference ids")
    return np.array([column.get(key, -1) for key in query_ids], dtype=int)


def _chunked(
    query: np.ndarray,
    reference: np.ndarray,
    self_columns: np.ndarray,
    reduce: Callable[[np.ndarray], np.ndarray],
    metric: str = "euclidean",
    share: float = 1.0,
) -> np.ndarray:
    """``reduce`` applied to each chunk of rows of the query x reference distance matrix, with
    each query's own reference row (``self_columns``) set to infinity; chunks stay within
    ``share`` of `WORKING_MEMORY` MiB (less for a ``reduce`` that makes temporary copies)."""

    def reduce_chunk(chunk: np.ndarray, start: int) -> np.ndarray:
        rows = np.arange(start, start + len(chunk))
        own = self_columns[rows]
        mine = own >= 0
        chunk[rows[mine] - start, own[mine]] = np.inf
        return reduce(chunk)

    parts = pairwise_distances_chunked(
        query,
        reference,
        reduce_func=reduce_chunk,
        metric=metric,
        working_memory=WORKING_MEMORY * share,
    )
    return np.concatenate(list(parts))


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise InputError(f"{name} must be a non-empty rows x features array, got {x.shape}")
    return x


def nearest_distances(
    query: np.ndarray,
    reference: np.ndarray,
    *,
    exclude_self_ids: tuple[Sequence, Sequence] | None = None,
) -> np.ndarray:
    """Exact Euclidean distance from each query row to its nearest reference row.

    The distance matrix is built in chunks of rows (`WORKING_MEMORY` MiB each), so memory stays
    bounded for 10,000+ reference rows of 2048 features. ``exclude_self_ids = (query_ids,
    reference_ids)`` ignores a query's own row in the reference set (leave-one-out); a query
    whose only reference row is itself gets infinity. The nearest row is found by BLAS distances
    and its distance recomputed directly, which stays accurate for near-copies.
    """
    query, reference = _as_2d(query, "query"), _as_2d(reference, "reference")
    own = _self_columns(len(query), exclude_self_ids, len(reference))
    nearest = _chunked(query, reference, own, lambda d: np.argmin(d, axis=1))
    out = np.linalg.norm(query - reference[nearest], axis=1)
    lonely = (own >= 0) & (len(reference) == 1)
    out[lonely] = np.inf
    return out


def gan_leaks_scores(
    query: np.ndarray,
    generated: np.ndarray,
    reference: np.ndarray,
    query_ids: Sequence,
    reference_ids: Sequence,
) -> np.ndarray:
    """Calibrated GAN-Leaks (Chen et al., CCS 2020): ``d_ref(x) - d_gen(x)``, the nearest
    distance to the reference (not-used) images minus the nearest distance to the generated
    images; the reference distance leaves a reference member itself out. The reference stands in
    for the paper's reference generator trained without ``x``."""
    d_gen = nearest_distances(query, generated)
    d_ref = nearest_distances(query, reference, exclude_self_ids=(query_ids, reference_ids))
    return d_ref - d_gen


def _neighbour_fractions(
    query: np.ndarray, generated: np.ndarray, epsilons: np.ndarray
) -> np.ndarray:
    """Query rows x epsilons: fraction of generated rows within each epsilon (chunked)."""
    query, generated = _as_2d(query, "query"), _as_2d(generated, "generated")
    eps = np.asarray(epsilons, dtype=np.float64)
    none = np.full(len(query), -1)
    counts = _chunked(
        query,
        generated,
        none,
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
) -> tuple[float, pd.DataFrame]:
    """Epsilon of `monte_carlo_scores` among ``quantiles`` of the training images'
    nearest-generated distances: the best cross-validated training F1 of thresholded scores,
    ties to the higher training AUC, then the earlier quantile. Returns epsilon and the search
    table (quantile, epsilon, cv_f1_train, auc_train)."""
    labels = np.asarray(train_labels, dtype=int)
    nearest = nearest_distances(train_query, generated)
    epsilons = np.quantile(nearest, quantiles)
    fractions = _neighbour_fractions(train_query, generated, epsilons)
    rows = []
    for j, (q, eps) in enumerate(zip(quantiles, epsilons, strict=True)):
        scores = fractions[:, j]
        decisions = cross_validated_decisions(scores, labels, folds=folds, seed=seed)
        rows.append(
            {
                "quantile": float(q),
                "epsilon": float(eps),
                "cv_f1_train": f1(labels, decisions),
                "auc_train": auc(labels, scores),
            }
        )
    search = pd.DataFrame(rows)
    best = search.fillna({"auc_train": -np.inf}).sort_values(
        ["cv_f1_train", "auc_train"], ascending=False, kind="stable"
    )
    return float(best["epsilon"].iloc[0]), search


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
    exclude_self_ids: tuple[Sequence, Sequence] | None = None,
) -> np.ndarray:
    """Log density of a Gaussian KDE of ``data`` at each query row; the same values as
    ``sklearn.neighbors.KernelDensity(bandwidth=bandwidth).fit(data).score_samples(query)``,
    but leaving a query's own row out (``exclude_self_ids = (query_ids, data_ids)``) when
    given. Removing the self term from KernelDensity's total instead cancels catastrophically
    (it is often the whole density), hence the direct chunked log-sum-exp."""
    query, data = _as_2d(query, "query"), _as_2d(data, "data")
    own = _self_columns(len(query), exclude_self_ids, len(data))
    d = data.shape[1]
    log_norm = -0.5 * d * np.log(2 * np.pi * bandwidth**2)

    def log_sum(sq: np.ndarray) -> np.ndarray:
        sq *= -0.5 / bandwidth**2
        return logsumexp(sq, axis=1)

    log_sums = _chunked(query, data, own, log_sum, metric="sqeuclidean", share=0.25)
    members = np.full(len(query), len(data), dtype=np.float64) - (own >= 0)
    with np.errstate(divide="ignore"):
        return log_sums + log_norm - np.log(members)


def domias_scores(
    query: np.ndarray,
    generated: np.ndarray,
    reference: np.ndarray,
    query_ids: Sequence,
    reference_ids: Sequence,
    *,
    dims: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """DOMIAS (van Breugel et al., AISTATS 2023): ``log p_gen(x) - log p_ref(x)``.

    Features are standardised and projected by a whitened PCA, both fit on the generated plus
    reference rows, to ``dims`` components (fewer when the data has fewer). The generated and
    reference densities are Gaussian KDEs with Scott's-rule bandwidths (`scott_bandwidth`, each
    on its own reduced set); the reference density leaves a reference member itself out.
    """
    generated, reference = _as_2d(generated, "generated"), _as_2d(reference, "reference")
    query = _as_2d(query, "query")
    scaler = StandardScaler()
    pool = scaler.fit_transform(np.vstack([generated, reference]))
    dims = max(1, min(dims, pool.shape[1], len(pool) - 1))
    if not pool.any():  # standardised constant columns are all 0
        raise InputError(
            "DOMIAS: the generated and reference features do not vary (constant or identical "
            "images in this feature space); check the images or drop this space from "
            "attacks.spaces"
        )
    pca = PCA(n_components=dims, whiten=True, random_state=seed)
    reduced = pca.fit_transform(pool)
    del pool
    # whitening divides by each component's spread: drop the components without any
    keep = pca.explained_variance_ > 1e-10 * pca.explained_variance_.max()
    reduced = reduced[:, keep]
    g, r = reduced[: len(generated)], reduced[len(generated) :]
    q = pca.transform(scaler.transform(query))[:, keep]
    log_gen = gaussian_log_density(q, g, scott_bandwidth(g))
    log_ref = gaussian_log_density(
        q, r, scott_bandwidth(r), exclude_self_ids=(query_ids, reference_ids)
    )
    return log_gen - log_ref


# --- Ensemble --------------------------------------------------------------------------------


def rank_average(
    score_columns: dict[str, np.ndarray],
    reference_columns: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Mean over attacks of each row's rank in [0, 1]: the fraction of that attack's reference
    scores below the row's score (ties count half).

    The reference scores are the training images' (``reference_columns``; ``score_columns``
    themselves when omitted, i.e. when ranking the training images). Ranking test images against
    the training scores, not among themselves, keeps each test image's value independent of the
    other test images.
    """
    reference_columns = score_columns if reference_columns is None else reference_columns
    if not score_columns:
        raise InputError("rank_average needs at least one attack's scores")
    ranks = []
    for name, scores in score_columns.items():
        if name not in reference_columns:
            raise InputError(f"no reference (training) scores for attack {name!r}")
        ref = np.sort(np.asarray(reference_columns[name], dtype=np.float64))
        scores = np.asarray(scores, dtype=np.float64)
        below = np.searchsorted(ref, scores, side="left")
        at_or_below = np.searchsorted(ref, scores, side="right")
        ranks.append((below + at_or_below) / (2 * len(ref)))
    return np.mean(ranks, axis=0)


def _subset_row(
    members: tuple[str, ...],
    train_scores: dict[str, np.ndarray],
    labels: np.ndarray,
    folds: int,
    seed: int,
) -> dict:
    scores = rank_average({name: train_scores[name] for name in members})
    decisions = cross_validated_decisions(scores, labels, folds=folds, seed=seed)
    return {
        "members": "+".join(members),
        "size": len(members),
        "cv_f1_train": f1(labels, decisions),
        "auc_train": auc(labels, scores),
    }


def _best(table: pd.DataFrame) -> pd.Series:
    """Best cross-validated F1, ties to the higher AUC, then fewer members, then table order."""
    ranked = table.assign(neg_size=-table["size"]).fillna({"auc_train": -np.inf})
    ranked = ranked.sort_values(
        ["cv_f1_train", "auc_train", "neg_size"], ascending=False, kind="stable"
    )
    return ranked.iloc[0]


def choose_ensemble(
    train_scores: dict[str, np.ndarray],
    labels: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> tuple[list[str], pd.DataFrame]:
    """The attacks whose rank average (`rank_average`) has the best cross-validated F1 on the
    labelled training split; ties to the higher training AUC, then fewer members. Every
    non-empty subset is tried up to `EXHAUSTIVE_MAX` attacks, else greedy forward selection.
    Reads training scores and labels only. Returns the chosen names and the table of every tried
    subset (members, size, cv_f1_train, auc_train)."""
    labels = np.asarray(labels, dtype=int)
    names = list(train_scores)
    if not names:
        raise InputError("choose_ensemble needs at least one attack's scores")
    for name in names:
        if "+" in name:
            raise InputError(f"attack name {name!r} must not contain '+'")
        if len(train_scores[name]) != len(labels):
            raise InputError(f"attack {name!r}: {len(train_scores[name])} scores for {len(labels)}")
    rows: list[dict] = []
    if len(names) <= EXHAUSTIVE_MAX:
        for size in range(1, len(names) + 1):
            for members in combinations(names, size):
                rows.append(_subset_row(members, train_scores, labels, folds, seed))
        table = pd.DataFrame(rows)
        return _best(table)["members"].split("+"), table
    chosen: tuple[str, ...] = ()
    best = None
    while len(chosen) < len(names):
        step = [
            _subset_row((*chosen, name), train_scores, labels, folds, seed)
            for name in names
            if name not in chosen
        ]
        rows.extend(step)
        candidate = _best(pd.DataFrame(step))
        if best is not None and (candidate["cv_f1_train"], candidate["auc_train"]) <= (
            best["cv_f1_train"],
            best["auc_train"],
        ):
            break
        best, chosen = candidate, tuple(candidate["members"].split("+"))
    return list(chosen), pd.DataFrame(rows)

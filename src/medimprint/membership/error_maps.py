"""The paper's method B decisions on reconstruction-error maps of an autoencoder trained on the
generated images: a real image is assigned to the nearer of the used / not-used training
centroids, by mean error (`mean_mse_scores`) or by SSIM of the error map (`ssim_scores`); its
decision is ``score > 0``. A labelled image's centroids leave out its own group (patient, block:
`medimprint.data.groups`), so that it is never found by its labelled neighbour."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.metrics import structural_similarity

from medimprint.errors import InputError


def _class_split(errors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    errors, labels = np.asarray(errors, dtype=np.float64), np.asarray(labels, dtype=int)
    if len(errors) != len(labels):
        raise InputError(f"{len(errors)} training error maps but {len(labels)} labels")
    if not (labels == 1).any() or not (labels == 0).any():
        raise InputError("method B needs both used and not-used training error maps")
    return errors[labels == 1], errors[labels == 0]


def _class_sums(
    train: np.ndarray,
    labels: np.ndarray,
    query: np.ndarray | None,
    groups: Sequence | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per query, the sum and count of the used and of the not-used training rows. When the
    queries are the training rows (``query`` None), each leaves out its own row, or with
    ``groups`` its whole group (patient, block), so that training scores are made as a new
    image's would be, with no neighbouring slice in the class means."""
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
    labels = np.asarray(labels, dtype=int)
    keys = np.arange(len(train)) if groups is None else np.asarray(groups, dtype=str)
    if len(keys) != len(train):
        raise InputError(f"{len(keys)} group keys for {len(train)} training error maps")
    _, codes = np.unique(keys, return_inverse=True)
    flat = train.reshape(len(train), -1)
    out = []
    for cls in (1, 0):
        mine = labels == cls
        group_sums = np.zeros((codes.max() + 1, flat.shape[1]))
        np.add.at(group_sums, codes[mine], flat[mine])
        group_counts = np.bincount(codes[mine], minlength=codes.max() + 1)
        total = flat[mine].sum(axis=0)
        out.append((total - group_sums[codes]).reshape(train.shape))
        out.append(mine.sum() - group_counts[codes].astype(np.float64))
    if min(out[1].min(), out[3].min()) < 1:
        raise InputError(
            "method B needs used and not-used training images outside each image's group "
            "(at least two groups per class); add training images of other patients / blocks"
        )
    return out[0], out[1], out[2], out[3]


def mean_mse_scores(
    train_errors: np.ndarray,
    train_labels: np.ndarray,
    query_errors: np.ndarray | None = None,
    *,
    groups: Sequence | None = None,
) -> np.ndarray:
    """``|e - c_not_used| - |e - c_used|`` of each query's mean error ``e``, with ``c_*`` the
    mean of ``e`` over the used / not-used training maps; positive means nearer the used
    centroid (the paper's decision). Without ``query_errors``, the training maps are scored,
    each against centroids that leave it (with ``groups``, its group) out."""
    train = np.asarray(train_errors, dtype=np.float64)
    e_train = train.reshape(len(train), -1).mean(axis=1)
    query = None if query_errors is None else np.asarray(query_errors, dtype=np.float64)
    sum_used, n_used, sum_not, n_not = _class_sums(e_train, train_labels, query, groups)
    e = e_train if query is None else query.reshape(len(query), -1).mean(axis=1)
    return np.abs(e - sum_not / n_not) - np.abs(e - sum_used / n_used)


def ssim_scores(
    train_errors: np.ndarray,
    train_labels: np.ndarray,
    query_errors: np.ndarray | None = None,
    *,
    groups: Sequence | None = None,
) -> np.ndarray:
    """``SSIM(map, mean_used) - SSIM(map, mean_not_used)`` of each query's N x H x W error map,
    with the mean maps over the used / not-used training images; positive means more similar to
    the used mean (the paper's decision). Without ``query_errors``, the training maps are scored,
    each against mean maps that leave it (with ``groups``, its group) out.

    SSIM (``skimage.metrics.structural_similarity``, 7 x 7 window, so H, W >= 7) needs the data
    range of the maps; it is the max - min over the training maps (for a training map, over
    those outside its group), so a query's score depends on the training split only and a
    training map is scored exactly as a new one would be.
    """
    train = np.asarray(train_errors, dtype=np.float64)
    if train.ndim != 3:
        raise InputError(f"error maps must be N x H x W, got shape {train.shape}")
    query = None if query_errors is None else np.asarray(query_errors, dtype=np.float64)
    sum_used, n_used, sum_not, n_not = _class_sums(train, train_labels, query, groups)
    ranges = _ranges_without_own_group(train, groups) if query is None else None
    data_range = float(train.max() - train.min()) or 1.0
    out = []
    for i, error in enumerate(train if query is None else query):
        mean_used, mean_not = sum_used[i] / n_used[i], sum_not[i] / n_not[i]
        span = data_range if ranges is None else ranges[i]
        s_used = structural_similarity(error, mean_used, data_range=span)
        s_not = structural_similarity(error, mean_not, data_range=span)
        out.append(s_used - s_not)
    return np.asarray(out, dtype=np.float64)


def _ranges_without_own_group(train: np.ndarray, groups: Sequence | None) -> np.ndarray:
    """Per training map, max - min over the training maps outside its group (its own row
    without groups): the data range a query outside the training split would be scored with."""
    keys = np.arange(len(train)) if groups is None else np.asarray(groups, dtype=str)
    _, codes = np.unique(keys, return_inverse=True)
    flat = train.reshape(len(train), -1)
    tops = np.full(codes.max() + 1, -np.inf)
    lows = np.full(codes.max() + 1, np.inf)
    np.maximum.at(tops, codes, flat.max(axis=1))
    np.minimum.at(lows, codes, flat.min(axis=1))
    out = np.empty(len(train))
    for g in range(len(tops)):
        others = np.arange(len(tops)) != g
        span = tops[others].max() - lows[others].min() if others.any() else 0.0
        out[codes == g] = span or 1.0
    return out

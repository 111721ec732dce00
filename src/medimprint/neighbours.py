"""Nearest neighbours and chunked distance matrices, shared by the membership attacks and the
groups check: exact Euclidean distances in chunks of bounded memory, leaving out the reference
rows that share a query's key (its id, or its patient / block), so that a slice is never found by
itself or its neighbour."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import pairwise_distances_chunked

from medimprint.errors import InputError

#: Working memory of one chunk of a distance matrix, in MiB.
WORKING_MEMORY = 256


def exclusion_codes(
    n_query: int, exclude_same: tuple[Sequence, Sequence] | None, n_reference: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer codes of the query and reference keys (ids, or the groups they belong to):
    a reference row whose key equals a query's is left out of that query's distances."""
    if exclude_same is None:
        return None
    query_keys, reference_keys = exclude_same
    if len(query_keys) != n_query or len(reference_keys) != n_reference:
        raise InputError(
            f"keys for exclusion: {len(query_keys)} query keys for {n_query} rows, "
            f"{len(reference_keys)} reference keys for {n_reference} rows"
        )
    _, codes = np.unique(
        np.asarray([*map(str, query_keys), *map(str, reference_keys)]), return_inverse=True
    )
    return codes[:n_query], codes[n_query:]


def excluded_counts(exclusion: tuple[np.ndarray, np.ndarray] | None, n_query: int) -> np.ndarray:
    """For each query row, how many reference rows share its key."""
    if exclusion is None:
        return np.zeros(n_query, dtype=int)
    query_codes, reference_codes = exclusion
    per_code = np.bincount(reference_codes, minlength=int(query_codes.max(initial=0)) + 1)
    return per_code[query_codes]


def chunked_distances(
    query: np.ndarray,
    reference: np.ndarray,
    exclusion: tuple[np.ndarray, np.ndarray] | None,
    reduce: Callable[[np.ndarray], np.ndarray],
    metric: str = "euclidean",
    share: float = 1.0,
) -> np.ndarray:
    """``reduce`` applied to each chunk of rows of the query x reference distance matrix, with
    the reference rows sharing a query's key (`exclusion_codes`) set to infinity; chunks stay within
    ``share`` of `WORKING_MEMORY` MiB (less for a ``reduce`` that makes temporary copies)."""

    def reduce_chunk(chunk: np.ndarray, start: int) -> np.ndarray:
        if exclusion is not None:
            query_codes, reference_codes = exclusion
            own = query_codes[start : start + len(chunk)]
            chunk[own[:, None] == reference_codes[None, :]] = np.inf
        return reduce(chunk)

    parts = pairwise_distances_chunked(
        query,
        reference,
        reduce_func=reduce_chunk,
        metric=metric,
        working_memory=WORKING_MEMORY * share,
    )
    return np.concatenate(list(parts))


def as_rows(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as float64 rows x features, refused (naming it) when empty or not 2-D."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise InputError(f"{name} must be a non-empty rows x features array, got {x.shape}")
    return x


def nearest_rows(
    query: np.ndarray,
    reference: np.ndarray,
    *,
    exclude_same: tuple[Sequence, Sequence] | None = None,
) -> np.ndarray:
    """Index of each query row's nearest reference row (Euclidean; chunked, `nearest_distances`)."""
    query, reference = as_rows(query, "query"), as_rows(reference, "reference")
    exclusion = exclusion_codes(len(query), exclude_same, len(reference))
    return chunked_distances(query, reference, exclusion, lambda d: np.argmin(d, axis=1))


def nearest_distances(
    query: np.ndarray,
    reference: np.ndarray,
    *,
    exclude_same: tuple[Sequence, Sequence] | None = None,
) -> np.ndarray:
    """Exact Euclidean distance from each query row to its nearest reference row.

    The distance matrix is built in chunks of rows (`WORKING_MEMORY` MiB each), so memory stays
    bounded for 10,000+ reference rows of 2048 features. ``exclude_same = (query_keys,
    reference_keys)`` ignores the reference rows whose key equals the query's: with ids,
    leave-one-out; with groups (patient, block), leave-group-out, so a slice is not found by
    its neighbour. A query with no reference row left gets infinity. The nearest row is found
    by BLAS distances and its distance recomputed directly, which stays accurate for
    near-copies.
    """
    query, reference = as_rows(query, "query"), as_rows(reference, "reference")
    nearest = nearest_rows(query, reference, exclude_same=exclude_same)
    out = np.linalg.norm(query - reference[nearest], axis=1)
    exclusion = exclusion_codes(len(query), exclude_same, len(reference))
    out[excluded_counts(exclusion, len(query)) == len(reference)] = np.inf
    return out

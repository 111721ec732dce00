"""The ways to assign a generated image to a training subset (`names.SUBSET_METHODS`).

Features are standardised on every generated image (labelled and unknown: no label is read),
and the real images are put in the same scale, so a distance weighs each feature alike.

- ``nearest_real``: the subset of the nearest real image. It reads no label of a generated
  image: the generator's copy of its training anatomy is the whole signal (the membership
  attacks' idea, one subset per candidate).
- ``knn``: a 5-nearest-neighbour vote among the labelled generated images, the baseline a user
  would try first.
- ``logistic``: a multinomial logistic regression on the labelled generated images: it learns the
  generator's fingerprint, whatever it drew.
- ``logistic_real``: the same with the image's distance to each real subset appended, so the
  classifier may use the anatomy the generator copied as well as its fingerprint.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from medimprint.errors import InputError
from medimprint.names import SUBSET_METHODS
from medimprint.neighbours import nearest_distances, nearest_rows

#: Neighbours of the k-NN vote.
KNN_NEIGHBOURS = 5
#: Inverse regularisation of the logistic regressions (scikit-learn's default): the features
#: are standardised, and it is not tuned, so no choice rests on the labelled images.
LOGISTIC_C = 1.0


class SubsetData:
    """The images of one feature space, standardised once, that every method reads."""

    def __init__(
        self,
        labelled: np.ndarray,
        labels: np.ndarray,
        unknown: np.ndarray,
        real: np.ndarray,
        real_subsets: np.ndarray,
    ) -> None:
        scaler = StandardScaler().fit(np.vstack([labelled, unknown]))
        self.labelled = scaler.transform(labelled)
        self.labels = np.asarray(labels, dtype=str)
        self.unknown = scaler.transform(unknown)
        self.real = scaler.transform(real)
        self.real_subsets = np.asarray(real_subsets, dtype=str)
        self.subsets = np.unique(self.labels)
        missing = sorted(map(str, set(self.subsets) - set(self.real_subsets)))
        if missing:
            raise InputError(
                f"subset(s) {missing} have labelled generated images but no real images; add "
                "their real/<subset>/ folders"
            )

    @cached_property
    def labelled_near(self) -> np.ndarray:
        """Each labelled image's distance to the nearest real image of each subset."""
        return self._real_distances(self.labelled)

    @cached_property
    def unknown_near(self) -> np.ndarray:
        """Each unknown image's distance to the nearest real image of each subset."""
        return self._real_distances(self.unknown)

    def _real_distances(self, x: np.ndarray) -> np.ndarray:
        """Rows x subsets: each row's distance to the subset's nearest real image. Computed once
        per image, whatever the folds."""
        return np.column_stack(
            [nearest_distances(x, self.real[self.real_subsets == s]) for s in self.subsets]
        )


def predict(
    method: str,
    data: SubsetData,
    train: np.ndarray,
    held: np.ndarray | None = None,
    *,
    seed: int = 0,
) -> np.ndarray:
    """The subsets ``method`` gives the labelled rows ``held`` (indices into
    ``data.labelled``), or the unknown images when ``held`` is None, learning from the labelled
    rows ``train``."""
    query = data.unknown if held is None else data.labelled[held]
    if method == "nearest_real":
        return data.real_subsets[nearest_rows(query, data.real)]
    x, y = data.labelled[train], data.labels[train]
    if method == "knn":
        model = KNeighborsClassifier(n_neighbors=min(KNN_NEIGHBOURS, len(x)))
        return model.fit(x, y).predict(query)
    if method not in SUBSET_METHODS:
        raise InputError(f"unknown subsets method {method!r}; use one of {list(SUBSET_METHODS)}")
    if method == "logistic_real":
        # the distances to the real subsets as features, standardised on the learning rows
        near = data.unknown_near if held is None else data.labelled_near[held]
        scaler = StandardScaler().fit(data.labelled_near[train])
        x = np.hstack([x, scaler.transform(data.labelled_near[train])])
        query = np.hstack([query, scaler.transform(near)])
    model = LogisticRegression(C=LOGISTIC_C, max_iter=2000, random_state=seed)
    return model.fit(x, y).predict(query)


def cross_validated(method: str, data: SubsetData, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold subsets of the labelled generated images (stratified folds): what the run
    scores on labelled images it did not learn from. ``nearest_real`` learns from none."""
    everything = np.arange(len(data.labels))
    if method == "nearest_real":
        return predict(method, data, everything, everything, seed=seed)
    smallest = int(np.unique(data.labels, return_counts=True)[1].min())
    if smallest < 2:
        raise InputError(
            "a subset has one labelled generated image; cross-validation needs at least 2 per "
            "subset: add generated/<subset>/ images"
        )
    splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    out = np.empty(len(everything), dtype=object)
    for train, held in splitter.split(data.labelled, data.labels):
        out[held] = predict(method, data, train, held, seed=seed)
    return out.astype(str)

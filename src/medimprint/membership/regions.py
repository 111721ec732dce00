"""The paper's membership method A: distance of each real image to clusters of the generated
images' features.

The generated images' features (standardised on the generated images alone) are clustered by
k-means or hierarchical clustering for every k of a list; a real image's distance to the
generated set is the Euclidean distance to the nearest cluster centroid (``min``) or the mean
distance to all centroids (``mean``). Used images should be closer (the paper's hypothesis), so
the membership score is the negated distance. For each distance the k with the best
cross-validated AUC on grouped folds of the labelled training split is chosen (threshold-free:
ranking k by F1 favours the k whose threshold calls every image used), then the F1-maximising
threshold on that split; test labels, when given, are read after every choice, for evaluation
only. Every k's scores are kept as candidates for the dataset's selection
(`medimprint.membership.selection`), which repeats the choice of k inside its nested loop.

Hierarchical clustering builds one dendrogram and cuts it at every k. Above ``max_points``
generated images it clusters a seeded subsample and assigns the rest to the nearest centroid of
each cut, so memory stays bounded by ``max_points**2`` distances (10,000 points: about 1.2 GB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_argmin
from sklearn.metrics.pairwise import euclidean_distances

from medimprint.clustering import LINKAGES
from medimprint.data.views import MembershipView
from medimprint.errors import InputError
from medimprint.membership.decisions import decide, transferred_threshold
from medimprint.membership.folds import best_threshold, cv_auc, group_keys
from medimprint.membership.metrics import Metrics, auc, column_aucs, f1
from medimprint.membership.selection import candidate_name, candidate_table
from medimprint.membership.splits import feature_splits
from medimprint.names import CLUSTERING_METHODS, DISTANCES, REGION_KS


@dataclass(frozen=True)
class RegionSetup:
    """How one run clusters the generated images and picks k and the threshold."""

    method: str
    ks: tuple[int, ...] = REGION_KS
    linkage: str = "ward"
    max_points: int = 10_000
    folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in CLUSTERING_METHODS:
            raise InputError(
                f"unknown clustering method {self.method!r}; use one of {CLUSTERING_METHODS}"
            )
        if self.linkage not in LINKAGES:
            raise InputError(f"unknown linkage {self.linkage!r}; use one of {list(LINKAGES)}")
        if not self.ks or min(self.ks) < 1:
            raise InputError(f"membership k values must be positive integers, got {self.ks}")


@dataclass
class RegionRun:
    """One distance's outcome: per-image scores, the per-k search, the choice and metrics."""

    #: id, split, label, distance, score, used (training images: cross-validated decisions)
    scores: pd.DataFrame
    search: pd.DataFrame  # k, cv_auc_train, auc_train (+ f1_test, auc_test when labelled)
    k: int
    threshold: float
    metrics: Metrics
    #: every k's scores: ({k: training scores}, {k: test scores})
    by_k: tuple[dict[int, np.ndarray], dict[int, np.ndarray]]

    def candidates(self, run: str) -> pd.DataFrame:
        """The candidates table of this run (id ``run``) at every k."""
        train = self.scores[self.scores["split"] == "train"]["id"].tolist()
        test = self.scores[self.scores["split"] == "test"]["id"].tolist()
        return pd.concat(
            [
                candidate_table(
                    candidate_name(run, f"k={k}"), train, self.by_k[0][k], test, self.by_k[1][k]
                )
                for k in self.by_k[0]
            ],
            ignore_index=True,
        )


def cluster_centroids(
    generated: np.ndarray, ks: list[int], setup: RegionSetup
) -> dict[int, np.ndarray]:
    """``{k: k x d centroids}`` of the generated features for every k (k <= images)."""
    ks = sorted({k for k in ks if k <= len(generated)})
    if setup.method == "kmeans":
        return {
            k: KMeans(n_clusters=k, n_init=3, random_state=setup.seed)
            .fit(generated)
            .cluster_centers_
            for k in ks
        }
    rng = np.random.default_rng(setup.seed)
    sample = (
        np.sort(rng.choice(len(generated), setup.max_points, replace=False))
        if len(generated) > setup.max_points
        else np.arange(len(generated))
    )
    tree = _dendrogram(generated[sample], setup.linkage)
    centroids = {}
    for k in ks:
        labels = fcluster(tree, k, criterion="maxclust") - 1
        centres = _means(generated[sample], labels)
        if len(sample) < len(generated):  # assign the rest, then recompute the means
            centres = _means(generated, pairwise_distances_argmin(generated, centres))
        centroids[k] = centres
    return centroids


def _dendrogram(x: np.ndarray, method: str) -> np.ndarray:
    """Linkage matrix from BLAS-computed Euclidean distances (condensed, float64)."""
    square = euclidean_distances(x)
    np.fill_diagonal(square, 0.0)
    condensed = squareform(square, checks=False)
    del square
    return linkage(condensed, method=method)


def _means(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    groups = np.unique(labels)
    return np.stack([x[labels == g].mean(axis=0) for g in groups])


def centroid_distances(real: np.ndarray, centroids: np.ndarray, distance: str) -> np.ndarray:
    """Distance of each real image to the generated set: min or mean over cluster centroids."""
    d = euclidean_distances(real, centroids)
    if distance == "min":
        return d.min(axis=1)
    if distance == "mean":
        return d.mean(axis=1)
    raise InputError(f"unknown distance {distance!r}; use one of {DISTANCES}")


def _search_k(
    train: dict[int, np.ndarray],
    labels: np.ndarray,
    setup: RegionSetup,
    groups: np.ndarray | None = None,
) -> pd.DataFrame:
    """Cross-validated AUC (grouped folds) and training AUC of every k (scores by k)."""
    matrix = np.stack(list(train.values()), axis=1)
    return pd.DataFrame(
        {
            "k": list(train),
            "cv_auc_train": cv_auc(
                matrix, labels, folds=setup.folds, seed=setup.seed, groups=groups
            ),
            "auc_train": column_aucs(labels, matrix),
        }
    )


def choose_k(search: pd.DataFrame) -> int:
    """Best cross-validated training AUC; ties go to the higher training AUC, then smaller k."""
    ranked = search.assign(neg_k=-search["k"]).sort_values(
        ["cv_auc_train", "auc_train", "neg_k"], ascending=False, kind="stable"
    )
    return int(ranked["k"].iloc[0])


def run_regions(
    manifest: pd.DataFrame,
    ids: list[str],
    features: np.ndarray,
    setup: RegionSetup,
    *,
    groups: pd.Series | None = None,
    n_boot: int = 1000,
) -> dict[str, RegionRun]:
    """Both distances' runs of one (crop, backbone, method) on a membership dataset; folds and
    intervals keep ``groups`` (group by id) whole."""
    splits = feature_splits(manifest, ids, features)
    ks = [k for k in setup.ks if k <= min(len(splits.generated), len(splits.generated_test))]
    centroids = cluster_centroids(splits.generated, ks, setup)
    # the test split's own generated images are clustered at the same k when it has them
    test_centroids = (
        cluster_centroids(splits.generated_test, ks, setup) if splits.test_generator else centroids
    )
    view = MembershipView.of(manifest, groups)
    labels = view.train["label"].to_numpy()
    runs = {}
    for distance in DISTANCES:
        train_scores = {
            k: -centroid_distances(splits.train_x, c, distance) for k, c in centroids.items()
        }
        test_scores = {
            k: -centroid_distances(splits.test_x, c, distance) for k, c in test_centroids.items()
        }
        search = _search_k(train_scores, labels, setup, group_keys(groups, view.train["id"]))
        runs[distance] = _evaluate_run(view, (train_scores, test_scores), search, setup, n_boot)
    return runs


def _evaluate_run(
    view: MembershipView,
    scores_by_k: tuple[dict[int, np.ndarray], dict[int, np.ndarray]],
    search: pd.DataFrame,
    setup: RegionSetup,
    n_boot: int,
) -> RegionRun:
    """Choose k and the threshold on the training split, decide the test images (by rank
    against a test generator: `decisions.transferred_threshold`), and only then read their
    labels (when given) to evaluate."""
    train_scores, test_scores = scores_by_k
    labels = view.train["label"].to_numpy()
    k = choose_k(search)
    run = decide(
        view,
        train_scores[k],
        test_scores[k],
        folds=setup.folds,
        seed=setup.seed,
        n_boot=n_boot,
    )
    run.metrics["k"] = (float(k), float("nan"), float("nan"))
    if view.truth is not None:
        test_truth = view.truth.loc[view.test].to_numpy()

        def test_threshold(j: int) -> float:
            threshold = best_threshold(train_scores[j], labels)
            if view.test_generator:
                return transferred_threshold(threshold, train_scores[j], test_scores[j])
            return threshold

        search = search.assign(
            f1_test=[f1(test_truth, test_scores[j] >= test_threshold(j)) for j in search["k"]],
            auc_test=[auc(test_truth, test_scores[j]) for j in search["k"]],
        )
    scores = run.scores.assign(distance=-run.scores["score"])
    scores = scores[["id", "split", "label", "distance", "score", "used"]]
    return RegionRun(
        scores=scores,
        search=search,
        k=k,
        threshold=run.threshold,
        metrics=run.metrics,
        by_k=scores_by_k,
    )


def best_membership_run(metrics: pd.DataFrame, dataset: str, family: str) -> str:
    """The run of a method family (run ids ``family/...``) with the best cross-validated AUC on
    grouped folds of the labelled training split (threshold-free: an F1 ranking favours runs
    that call every image used), ties to the higher training AUC, then metrics order. Test
    labels are never read."""
    rows = metrics[
        (metrics["dataset"] == dataset)
        & (metrics["subtask"] == "membership")
        & metrics["run"].str.startswith(f"{family}/")
    ]
    train = rows[rows["metric"].isin(["cv_auc_train", "auc_train"])].pivot_table(
        index="run", columns="metric", values="value", sort=False
    )
    if train.empty:
        raise InputError(f"no {family} membership runs of dataset {dataset!r} in the metrics")
    order = train.reindex(columns=["cv_auc_train", "auc_train"]).fillna(-np.inf)
    best = order.sort_values(["cv_auc_train", "auc_train"], ascending=False, kind="stable")
    return str(best.index[0])


def selection_row(metrics: pd.DataFrame, dataset: str, run: str) -> pd.DataFrame:
    """One chosen run's values as one wide row: ``dataset, run``, a note that its training
    figures are the winner's own (in-sample, after selection), then every metric it has."""
    rows = metrics[(metrics["dataset"] == dataset) & (metrics["run"] == run)]
    values = dict(zip(rows["metric"], rows["value"], strict=True))
    note = "training figures in-sample, after selection among runs and k; see selected.tsv"
    return pd.DataFrame([{"dataset": dataset, "run": run, "note": note, **values}])

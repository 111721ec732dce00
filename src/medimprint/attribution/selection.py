"""One answer per attribution set with the number of generators unknown, chosen without test
labels, and the generator behind each of its clusters named (or called new).

The candidates are the grid's clean runs with k estimated. Two scores choose among them; neither
reads a test label:

- **held-out-generator ARI** (`heldout_generator_ari`): the labelled training split played as
  the open world. Each labelled generator in turn is the unseen one: a learned reducer is fit
  without it (on half of each seen generator's images), the images it was not fit on are
  clustered with the run's own k rule, and the ARI against the true generators is taken. The
  score is the mean over held-out generators (the minimum is kept too). A run that merges or
  splits generators it has not been taught fails here.
- **agreement** (`agreement`): the mean ARI between a candidate's test partition and every
  other candidate's. Feature sets fail in different ways (a CNN merges two generators, a
  frequency fingerprint splits one by content); a partition that many of them reach is more
  likely the generators' than one its own run alone finds.

`choose` first keeps the candidates whose test clusters are named after the most labelled
generators (``named``, from `name_clusters`): a run that leaves a labelled generator without a
test cluster has merged it with another one or lost it, a failure that no merge mends and that
the held-out score cannot see (an unsupervised run that separates the labelled generators on
the training split may still merge two on the test split, where its k rule faces one generator
more). Among those it keeps the candidates within `TOLERANCE` of the best held-out score and
takes the one of highest agreement (the medoid of the good partitions).

`name_clusters` maps the chosen run's test clusters to the labelled generators, by how far
their images lie from each generator's labelled images relative to how far those lie from each
other (nearest neighbours, features standardised on the training split); clusters and
generators are matched one to one (Hungarian); a cluster left over, or matched at a median
distance ratio above `MAX_RATIO`, is ``new``; `merge_clusters` then joins the clusters that no
distance separates (a generator k-means cut in two), and the new clusters that the shortlisted
runs put together more than two generators known to differ (an unseen generator of two modes),
a new part taking its partner's name. (A classifier's probabilities named the unseen generator
after the seen one it resembled most, and the seen one new: discriminative scores are most
confident far from the training data.)
`naming_accuracy` scores the names per image, with test labels, for evaluation only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from medimprint.attribution.metric_learning import GeneratorMetric
from medimprint.attribution.runs import AttributionSetup, choose_k, parse_run_id
from medimprint.clustering import cluster, reduce_features
from medimprint.data.views import generated_rows
from medimprint.errors import InputError
from medimprint.evaluation import CLUSTER_METRICS, bootstrap_interval
from medimprint.io import row_positions

#: Candidates within this much of the best held-out-generator ARI count as equally good; the
#: held-out score rests on 2-3 labelled generators, so smaller differences are noise.
TOLERANCE = 0.05
#: The name of a test cluster no labelled generator explains.
NEW = "new"
#: A cluster whose images lie, at the median, more than this many times farther from the
#: generator it is matched with than that generator's own images from each other is called new.
MAX_RATIO = 2.0
#: Share of each seen generator's labelled images a learned reducer is fit on when validated
#: (`fit_rows`); the held-out score is taken on the rest and on the held-out generator.
FIT_SHARE = 0.5


def fit_rows(labels: np.ndarray, *, share: float = FIT_SHARE, seed: int = 0) -> np.ndarray:
    """A seeded ``share`` of each generator's rows (a boolean mask): what a learned metric is
    fit on in the held-out-generator validation, the rest being what it is scored on."""
    rng = np.random.default_rng(seed)
    fit = np.zeros(len(labels), dtype=bool)
    for generator in np.unique(labels):
        rows = np.flatnonzero(labels == generator)
        fit[rng.permutation(rows)[: int(len(rows) * share)]] = True
    return fit


def heldout_generator_ari(
    features: np.ndarray, labels: np.ndarray, setup: AttributionSetup
) -> tuple[float, float]:
    """``(mean, min)`` ARI over labelled generators, each held out in turn (module docstring).

    ``features`` and ``labels`` are the labelled training split. A reducer that is not learned
    does not depend on the held-out generator, so the split is clustered once. A learned one is
    fit on `fit_rows` of the seen generators only and scored out of sample: on the seen
    generators' other rows and every row of the held-out one (scoring the rows it was fit on
    flattered it). It needs two generators besides the held-out one, each with 2 fit rows:
    with fewer, the score is NaN.
    """
    generators = np.unique(labels)
    if len(generators) < 2:
        raise InputError("held-out-generator validation needs at least 2 labelled generators")
    fit = fit_rows(labels, seed=setup.seed)
    fit_counts = np.unique(labels[fit], return_counts=True)[1] if fit.any() else np.zeros(1)
    if setup.supervised and (len(generators) < 3 or fit_counts.min() < 2):
        return float("nan"), float("nan")
    scores = []
    for held_out in generators if setup.supervised else generators[:1]:
        if setup.supervised:
            seen_fit = fit & (labels != held_out)
            scored = ~seen_fit
            metric = GeneratorMetric(setup.reducer, seed=setup.seed)
            x = metric.fit(features[seen_fit], labels[seen_fit]).transform(features[scored])
        else:
            scored = np.ones(len(labels), dtype=bool)
            x = reduce_features(features, setup.reducer, seed=setup.seed)
        k = choose_k(x, len(generators), setup)
        clusters = cluster(x, k, setup.method, linkage=setup.linkage, seed=setup.seed)
        scores.append(float(adjusted_rand_score(labels[scored], clusters)))
    return float(np.mean(scores)), float(np.min(scores))


def agreement(partitions: Mapping[str, pd.Series]) -> dict[str, float]:
    """Mean ARI of each partition (cluster per image id) with every other one, on the ids they
    share; 1.0 for a single partition."""
    runs = list(partitions)
    if len(runs) == 1:
        return {runs[0]: 1.0}
    matrix = np.eye(len(runs))
    for i, a in enumerate(runs):
        for j in range(i + 1, len(runs)):
            b = runs[j]
            shared = partitions[a].index.intersection(partitions[b].index)
            ari = adjusted_rand_score(partitions[a][shared], partitions[b][shared])
            matrix[i, j] = matrix[j, i] = ari
    return {run: float((matrix[i].sum() - 1) / (len(runs) - 1)) for i, run in enumerate(runs)}


@dataclass(frozen=True)
class Choice:
    """The chosen run and the table of every candidate's scores."""

    run: str
    candidates: pd.DataFrame


def choose(candidates: pd.DataFrame, *, tolerance: float = TOLERANCE) -> Choice:
    """Choose among ``candidates`` (columns ``run``, ``named``, ``heldout_ari``, ``agreement``,
    in the grid's order): among the runs that name the most labelled generators, the highest
    agreement among those within ``tolerance`` of their best held-out score (a NaN score, a run
    that could not be validated, is not shortlisted unless no such run could be); ties to the
    earlier row. Adds the column ``shortlisted``."""
    if candidates.empty:
        raise InputError(
            "no attribution run with k estimated to choose from; add 'estimated' to "
            "attribution.k in the config"
        )
    table = candidates.reset_index(drop=True)
    pool = table["named"] == table["named"].max()
    scores = table["heldout_ari"].where(pool)
    best = scores.max()
    table["shortlisted"] = scores >= best - tolerance if scores.notna().any() else pool
    order = table[table["shortlisted"]].sort_values("agreement", ascending=False, kind="stable")
    return Choice(str(order["run"].iloc[0]), table)


def _spacing_ratios(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each query row's distance to its nearest ``reference`` row over the reference rows'
    typical spacing (median distance of each to its nearest other one): about 1 for a row drawn
    like the reference rows."""
    within, _ = NearestNeighbors(n_neighbors=2).fit(reference).kneighbors(reference)
    scale = max(float(np.median(within[:, 1])), np.finfo(float).tiny)
    distance, _ = NearestNeighbors(n_neighbors=1).fit(reference).kneighbors(query)
    return distance[:, 0] / scale


def generator_ratios(
    train: np.ndarray, train_labels: Sequence[str], test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(generators, ratios)``: each test image's `_spacing_ratios` to each labelled
    generator's training images (a column per generator), features standardised with the
    training split's statistics. About 1 where the image is that generator's."""
    train_labels = np.asarray(train_labels)
    scaler = StandardScaler().fit(train)
    train, test = scaler.transform(train), scaler.transform(test)
    generators = np.unique(train_labels)
    ratios = np.empty((len(test), len(generators)))
    for column, generator in enumerate(generators):
        own = train[train_labels == generator]
        if len(own) < 2:
            raise InputError(f"generator {generator!r} has fewer than 2 labelled images")
        ratios[:, column] = _spacing_ratios(test, own)
    return generators, ratios


def names_from_ratios(
    generators: np.ndarray, ratios: np.ndarray, clusters: np.ndarray
) -> dict[int, str]:
    """{test cluster: the labelled generator it matches, or `NEW`}: each cluster's median
    `generator_ratios` per generator is the cost of matching them, one to one (Hungarian); a
    match above `MAX_RATIO` is new."""
    ids = np.unique(clusters)
    cost = np.stack([np.median(ratios[clusters == c], axis=0) for c in ids])
    rows, columns = linear_sum_assignment(cost)
    names = dict.fromkeys((int(c) for c in ids), NEW)
    for row, column in zip(rows, columns, strict=True):
        if cost[row, column] <= MAX_RATIO:
            names[int(ids[row])] = str(generators[column])
    return names


def name_clusters(
    train: np.ndarray,
    train_labels: Sequence[str],
    test: np.ndarray,
    clusters: np.ndarray,
) -> dict[int, str]:
    """{test cluster: the labelled generator it matches, or `NEW`} (module docstring): a test
    image's distance to its nearest training image of generator g, over the typical such
    distance among g's own training images (each to its nearest other one), is about 1 when the
    image is g's (`generator_ratios`); clusters are matched to generators by those ratios
    (`names_from_ratios`)."""
    return names_from_ratios(*generator_ratios(train, train_labels, test), np.asarray(clusters))


def separation(rows_a: np.ndarray, rows_b: np.ndarray) -> float:
    """How far apart two groups of images lie, in units of their own spacing: the larger of
    each group's median `_spacing_ratios` to the other. About 1 for two halves of one cloud;
    `merge_clusters` joins clusters at or below `MAX_RATIO`."""
    return float(
        max(
            np.median(_spacing_ratios(rows_a, rows_b)),
            np.median(_spacing_ratios(rows_b, rows_a)),
        )
    )


def co_association(grid: np.ndarray, in_a: np.ndarray, in_b: np.ndarray) -> float:
    """The share of pairs of an image of ``in_a`` and one of ``in_b`` (boolean masks) that a
    run puts in one cluster, averaged over the runs (rows of ``grid``, each run's cluster per
    image): evidence accumulation's co-association (Fred & Jain 2005) between two groups."""
    shares = []
    for row in grid:
        _, codes = np.unique(row, return_inverse=True)
        counts_a = np.bincount(codes[in_a], minlength=codes.max() + 1)
        counts_b = np.bincount(codes[in_b], minlength=codes.max() + 1)
        shares.append(counts_a @ counts_b / (in_a.sum() * in_b.sum()))
    return float(np.mean(shares))


@dataclass(frozen=True)
class GridVotes:
    """The shortlisted runs' clusters (a row per run) of the labelled training images and of
    the test images, for `grid_joined`."""

    train: np.ndarray
    labels: np.ndarray
    test: np.ndarray


def grid_joined(
    votes: GridVotes, clusters: np.ndarray, named: Mapping[int, str]
) -> set[tuple[int, int]]:
    """The pairs ``(a, b)``, ``a < b``, of `NEW` test clusters that the grid's runs put
    together more (`co_association`) than any two generators known to differ: two labelled
    generators on the training split, or two test clusters named after different labelled
    generators. Feature sets fail in different ways: two modes of an unseen generator that the
    chosen run's features set apart, other good runs often put together, and two generators
    they rarely do. (On the training split a learned reducer was fit on the very labels, which
    lowers that bar; the named test clusters keep it honest.) A cluster named after a labelled
    generator is not joined this way: a run that puts too few clusters on the test split joins
    it with an unseen generator's as readily as with its own other mode."""
    ids = sorted(int(c) for c in np.unique(clusters))
    new = [c for c in ids if named[c] == NEW]
    if len(new) < 2:
        return set()  # nothing to join: skip the bar
    labels = np.asarray(votes.labels)
    known_apart = [
        co_association(votes.train, labels == g, labels == h)
        for g, h in combinations(np.unique(labels), 2)
    ] + [
        co_association(votes.test, clusters == a, clusters == b)
        for a, b in combinations(ids, 2)
        if NEW not in (named[a], named[b])
    ]
    bar = max(known_apart, default=0.0)
    return {
        (a, b)
        for a, b in combinations(new, 2)
        if co_association(votes.test, clusters == a, clusters == b) > bar
    }


def merge_clusters(
    train: np.ndarray,
    test: np.ndarray,
    clusters: np.ndarray,
    named: Mapping[int, str],
    votes: GridVotes | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """The test clusters that no distance (or the grid) separates merged, and their names:
    k-means may cut one generator in two by content, seen (one half named after it, the other
    left over, so new) or unseen (two new halves). Two clusters merge when each one's images
    lie, at the median, within `MAX_RATIO` times the other's own spacing: the rule that names a
    cluster after a labelled generator, applied between test clusters (features standardised
    on the training split), or, two new ones, with the grid's ``votes``, when the good runs put
    them together more than two generators known to differ (`grid_joined`: two modes of an
    unseen generator that no distance in this feature set joins). Pairs are joined closest
    first, and never so that one cluster holds two labelled generators' names; a merged
    cluster takes the smallest id of its parts and the labelled name among them, or `NEW`."""
    clusters = np.asarray(clusters)
    ids = sorted(int(c) for c in np.unique(clusters))
    sizable = [c for c in ids if (clusters == c).sum() >= 2]
    scaler = StandardScaler().fit(train)
    test = scaler.transform(test)
    joined = grid_joined(votes, clusters, named) if votes is not None else set()
    pairs = []
    for i, a in enumerate(sizable):
        for b in sizable[i + 1 :]:
            if named[a] != NEW and named[b] != NEW:
                continue  # matched one to one with two labelled generators: apart by design
            apart = separation(test[clusters == a], test[clusters == b])
            if apart <= MAX_RATIO or (a, b) in joined:
                pairs.append((float(apart), a, b))
    parent = {c: c for c in ids}
    name = {c: named[c] for c in ids}

    def root(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    for _, a, b in sorted(pairs):
        low, high = sorted((root(a), root(b)))
        if low == high or NEW not in (name[low], name[high]):
            continue  # already one, or it would join two labelled generators
        parent[high] = low
        name[low] = name[high] if name[low] == NEW else name[low]
    merged = np.array([root(int(c)) for c in clusters])
    return merged, {c: name[c] for c in ids if root(c) == c}


def naming_accuracy(named: Sequence[str], truth: Sequence[str], labelled: Sequence[str]) -> float:
    """Fraction of test images named right: their generator when it is a labelled one, `NEW`
    when it is not."""
    labelled = set(labelled)
    expected = np.array([t if t in labelled else NEW for t in truth])
    return float(np.mean(np.asarray(named) == expected))


@dataclass(frozen=True)
class Selection:
    """A dataset's answer: the chosen run, every candidate's scores, and the chosen run's test
    clusters with their names (columns ``id``, ``cluster``, ``generator``)."""

    run: str
    candidates: pd.DataFrame
    names: pd.DataFrame


def select(
    manifest: pd.DataFrame,
    partitions: Mapping[str, pd.DataFrame],
    feature_sets: Mapping[str, tuple[list[str], np.ndarray]],
    *,
    tolerance: float = TOLERANCE,
    **options: object,
) -> Selection:
    """Choose among the runs of ``partitions`` ({run id: its clusters table, as
    `run_attribution` writes it}) and name the chosen run's clusters. ``feature_sets`` holds
    each feature set's ``(ids, features)``; ``options`` fill the runs' setups (linkage,
    k_criterion, k_max, seed). Test labels are not read."""
    train, test = generated_rows(manifest, "train"), generated_rows(manifest, "test")
    labels = train["label"].to_numpy()
    splits = {
        name: (_rows(feature_set, train["id"]), _rows(feature_set, test["id"]))
        for name, feature_set in feature_sets.items()
    }
    ratios = {
        name: generator_ratios(x_train, labels, x_test)
        for name, (x_train, x_test) in splits.items()
    }
    test_partitions = {run: _partition(table, "test") for run, table in partitions.items()}
    test_clusters = {run: part.loc[test["id"]].to_numpy() for run, part in test_partitions.items()}
    rows, run_names = [], {}
    for run, partition in test_partitions.items():
        feature_set, setup, _view = parse_run_id(run, **options)
        mean, low = heldout_generator_ari(splits[feature_set][0], labels, setup)
        run_names[run] = names_from_ratios(*ratios[feature_set], test_clusters[run])
        rows.append(
            {
                "run": run,
                "feature_set": feature_set,
                "reducer": setup.reducer,
                "method": setup.method,
                "k_test": int(partition.nunique()),
                "named": len(set(run_names[run].values()) - {NEW}),
                "heldout_ari": mean,
                "heldout_ari_min": low,
            }
        )
    agreed = agreement(test_partitions)
    candidates = pd.DataFrame(rows).assign(agreement=lambda t: t["run"].map(agreed))
    choice = choose(candidates, tolerance=tolerance)
    feature_set, _setup, _view = parse_run_id(choice.run, **options)
    clusters = test_clusters[choice.run]
    x_train, x_test = splits[feature_set]
    named = run_names[choice.run]
    shortlist = choice.candidates.loc[choice.candidates["shortlisted"], "run"]
    votes = GridVotes(
        train=np.stack([_partition(partitions[r], "train").loc[train["id"]] for r in shortlist]),
        labels=labels,
        test=np.stack([test_clusters[r] for r in shortlist]),
    )
    merged, merged_names = merge_clusters(x_train, x_test, clusters, named, votes)
    names = pd.DataFrame(
        {
            "id": test["id"].to_numpy(),
            "cluster": merged,
            "run_cluster": clusters,
            "generator": [merged_names[c] for c in merged],
        }
    )
    return Selection(choice.run, choice.candidates, names)


def _rows(feature_set: tuple[list[str], np.ndarray], ids: pd.Series) -> np.ndarray:
    """The feature rows of ``ids``, in their order."""
    all_ids, features = feature_set
    rows, missing = row_positions(all_ids, list(ids))
    if missing:
        raise InputError(
            f"{len(missing)} images (first: {missing[0]}) are not in the feature store; "
            "delete the store so the workflow extracts it again"
        )
    return features[rows]


def _partition(table: pd.DataFrame, split: str) -> pd.Series:
    """A run's clusters of one split (`run_attribution`'s table) by image id."""
    return table[table["split"] == split].set_index("id")["cluster"].astype(int)


def summary(
    dataset: str,
    selection: Selection,
    manifest: pd.DataFrame,
    partitions: Mapping[str, pd.DataFrame],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The one-row answer (``selected.tsv``) and the candidates table with each run's test ARI.

    The answer gives the chosen run, its estimated k and the scores it was chosen by (``named``:
    the labelled generators its test clusters are named after). With test labels, it adds its
    test ARI (bootstrap interval), the accuracy of its generator names, the share of the unseen
    generators' images it calls new, and the spread of test ARIs over the candidates it was
    chosen from; those read the labels only here, after the choice.
    """
    candidates = selection.candidates.copy()
    chosen = candidates[candidates["run"] == selection.run].iloc[0]
    row = {
        "dataset": dataset,
        "run": selection.run,
        **{key: chosen[key] for key in ("feature_set", "reducer", "method")},
        "k_test": int(selection.names["cluster"].nunique()),
        "k_run": int(chosen["k_test"]),
        **{key: chosen[key] for key in ("named", "heldout_ari", "heldout_ari_min", "agreement")},
        "candidates": len(candidates),
        "shortlisted": int(candidates["shortlisted"].sum()),
    }
    test = generated_rows(manifest, "test")
    truth = test.set_index("id")["label"]
    if (truth != "").all():
        names = selection.names.set_index("id").loc[truth.index]
        labelled = set(generated_rows(manifest, "train")["label"])
        candidates["ari_test"] = [_test_ari(partitions[run], truth) for run in candidates["run"]]
        ari, low, high = bootstrap_interval(
            CLUSTER_METRICS["ari"], truth.to_numpy(), names["cluster"].to_numpy(),
            n_boot=n_boot, seed=seed,
        )  # fmt: skip
        unseen = ~truth.isin(labelled)
        row |= {
            "k_expected": int(truth.nunique()),
            "ari_test": ari,
            "ari_test_low": low,
            "ari_test_high": high,
            "naming_accuracy": naming_accuracy(names["generator"], truth, labelled),
            "unseen_named_new": float((names["generator"][unseen] == NEW).mean())
            if unseen.any()
            else float("nan"),
            "grid_ari_test_min": candidates["ari_test"].min(),
            "grid_ari_test_median": candidates["ari_test"].median(),
            "grid_ari_test_max": candidates["ari_test"].max(),
        }
    return pd.DataFrame([row]), candidates


def _test_ari(table: pd.DataFrame, truth: pd.Series) -> float:
    test = _partition(table, "test")
    return float(adjusted_rand_score(truth.to_numpy(), test.loc[truth.index].to_numpy()))

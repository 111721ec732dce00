"""medimprint.attribution.selection: the answer with k unknown, chosen without test labels, and
the names of its clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medimprint.attribution.metric_learning import GeneratorMetric
from medimprint.attribution.runs import AttributionSetup
from medimprint.attribution.selection import (
    NEW,
    GridVotes,
    agreement,
    choose,
    co_association,
    grid_joined,
    heldout_generator_ari,
    merge_clusters,
    name_clusters,
    naming_accuracy,
    select,
    summary,
)
from medimprint.errors import InputError

GENERATORS = ("vae", "dcgan", "pca_gaussian")


def blobs(centres: dict[str, np.ndarray], n: int, seed: int, spread: float = 1.0):
    """``n`` Gaussian feature rows around each centre: (features, labels)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + spread * rng.standard_normal((n, len(c))) for c in centres.values()])
    return x, np.repeat(list(centres), n)


def centres(names, dim: int = 8, distance: float = 12.0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: distance * rng.standard_normal(dim) for name in names}


def test_heldout_score_is_high_when_generators_separate_and_low_when_two_merge():
    setup = AttributionSetup(k="estimated", k_max=6)
    apart = centres(GENERATORS)
    x, labels = blobs(apart, 40, seed=1)
    assert heldout_generator_ari(x, labels, setup) == pytest.approx((1.0, 1.0))
    merged = {**apart, "pca_gaussian": apart["vae"] + 0.1}  # two generators on one spot
    x, labels = blobs(merged, 40, seed=1)
    mean, low = heldout_generator_ari(x, labels, setup)
    assert mean < 0.8 and low <= mean


def test_a_learned_reducer_is_validated_without_the_generator_held_out():
    """With two labelled generators a metric cannot be learned without one: no score."""
    x, labels = blobs(centres(GENERATORS), 30, seed=2)
    whiten = AttributionSetup(reducer="whiten", k="estimated", k_max=6)
    mean, low = heldout_generator_ari(x, labels, whiten)
    assert 0.9 <= low <= mean <= 1.0
    two = labels != "pca_gaussian"
    assert np.isnan(heldout_generator_ari(x[two], labels[two], whiten)).all()


def test_a_learned_reducer_never_fits_the_held_out_generator_or_the_rows_it_scores(monkeypatch):
    """Out of sample: each held-out round fits the metric on seen generators' rows only, and
    scores (transforms, clusters) only rows it was not fit on."""
    x, labels = blobs(centres(GENERATORS), 30, seed=2)
    row = {tuple(values): i for i, values in enumerate(x)}
    calls = {"fit": [], "transform": []}
    fit, transform = GeneratorMetric.fit, GeneratorMetric.transform

    def spy(kind, original):
        def wrapped(self, features, *args):
            calls[kind].append({row[tuple(values)] for values in features})
            return original(self, features, *args)

        return wrapped

    monkeypatch.setattr(GeneratorMetric, "fit", spy("fit", fit))
    monkeypatch.setattr(GeneratorMetric, "transform", spy("transform", transform))
    whiten = AttributionSetup(reducer="whiten", k="estimated", k_max=6)
    mean, _ = heldout_generator_ari(x, labels, whiten)
    assert len(calls["fit"]) == len(GENERATORS) and mean > 0.9
    rounds = zip(sorted(GENERATORS), calls["fit"], calls["transform"], strict=True)
    for held_out, fitted, scored in rounds:
        assert fitted and not fitted & set(np.flatnonzero(labels == held_out))
        assert not fitted & scored and fitted | scored == set(range(len(x)))


def test_agreement_is_the_mean_ari_with_the_other_partitions():
    ids = [f"t{i}" for i in range(12)]
    truth = pd.Series(np.repeat([0, 1, 2], 4), index=ids)
    relabelled = pd.Series(np.repeat([2, 0, 1], 4), index=ids)  # the same partition
    merged = pd.Series(np.repeat([0, 0, 1], 4), index=ids)
    scores = agreement({"a": truth, "b": relabelled, "c": merged})
    assert scores["a"] == pytest.approx(scores["b"])
    assert scores["a"] > scores["c"]
    assert agreement({"only": truth}) == {"only": 1.0}


def test_choose_shortlists_by_heldout_score_then_takes_the_most_agreed():
    table = pd.DataFrame(
        {
            "run": ["a", "b", "c", "d"],
            "named": 3,
            "heldout_ari": [1.0, 0.97, 0.6, np.nan],
            "agreement": [0.5, 0.9, 0.99, 0.99],
        }
    )
    choice = choose(table)
    assert choice.run == "b"  # within the tolerance of the best, and agreed with most
    assert choice.candidates["shortlisted"].tolist() == [True, True, False, False]
    assert choose(table, tolerance=0.0).run == "a"
    unscored = table.assign(heldout_ari=np.nan)
    assert choose(unscored).run == "c"  # nothing could be validated: agreement alone
    with pytest.raises(InputError, match=r"add 'estimated' to attribution\.k"):
        choose(table.iloc[:0])


def test_choose_keeps_the_runs_that_name_the_most_labelled_generators():
    """A run that leaves a labelled generator without a test cluster is not chosen, however
    well it scores on the labelled split and agrees with the grid; the held-out tolerance is
    taken from the best run that names them all."""
    table = pd.DataFrame(
        {
            "run": ["merges", "names_all", "close", "far"],
            "named": [2, 3, 3, 3],
            "heldout_ari": [1.0, 0.85, 0.82, 0.75],
            "agreement": [0.9, 0.6, 0.7, 0.95],
        }
    )
    choice = choose(table)
    assert choice.run == "close"
    assert choice.candidates["shortlisted"].tolist() == [False, True, True, False]
    unscored = table.assign(heldout_ari=np.nan)
    assert choose(unscored).run == "far"  # nothing validated: agreement among those naming 3


def test_clusters_are_named_after_their_generator_and_the_unseen_one_new():
    """The unseen generator lies beyond one seen generator, where a classifier is surest of
    that seen one; distances to the labelled images still call it new."""
    seen = centres(GENERATORS, seed=3)
    unseen = {"upconv_gan": seen["vae"] + 3 * (seen["vae"] - seen["dcgan"])}
    train, train_labels = blobs(seen, 40, seed=4)
    test, truth = blobs({**seen, **unseen}, 25, seed=5)
    clusters = pd.factorize(truth)[0] + 10  # cluster ids are arbitrary
    names = name_clusters(train, train_labels, test, clusters)
    named = [names[c] for c in clusters]
    assert dict(zip(truth, named, strict=True)) == {
        "vae": "vae",
        "dcgan": "dcgan",
        "pca_gaussian": "pca_gaussian",
        "upconv_gan": NEW,
    }
    assert naming_accuracy(named, truth, GENERATORS) == 1.0
    merged = np.where(truth == "upconv_gan", clusters[truth == "vae"][0], clusters)
    named = [name_clusters(train, train_labels, test, merged)[c] for c in merged]
    assert naming_accuracy(named, truth, GENERATORS) == pytest.approx(0.75)


def _dataset(seed: int = 6):
    """A manifest of 3 labelled generators and a test set of 4, and two feature sets with
    their k-estimated clusters: ``good`` separates every generator; ``bad`` puts the PCA
    generator on the VAE's spot (the held-out check sees it) and the unseen one too."""
    seen = centres(GENERATORS, seed=seed)
    test_centres = {**seen, "upconv_gan": centres(["upconv_gan"], seed=seed + 1)["upconv_gan"]}
    train, train_labels = blobs(seen, 30, seed=seed + 2)
    test, truth = blobs(test_centres, 20, seed=seed + 3)
    ids = [f"g{i}" for i in range(len(train))] + [f"t{i}" for i in range(len(test))]
    split = ["train"] * len(train) + ["test"] * len(test)
    manifest = pd.DataFrame(
        {"id": ids, "path": "", "role": "generated", "split": split,
         "label": list(train_labels) + list(truth)}
    )  # fmt: skip
    labels = np.concatenate([train_labels, truth])
    good = np.concatenate([train, test])
    bad = good.copy()
    moved = np.isin(labels, ["pca_gaussian", "upconv_gan"])
    origin = np.where(
        labels[moved, None] == "pca_gaussian", seen["pca_gaussian"], test_centres["upconv_gan"]
    )
    bad[moved] += seen["vae"] - origin
    feature_sets = {"good": (ids, good), "bad": (ids, bad)}
    truth_clusters = pd.factorize(truth)[0]
    merged = np.where(truth == "upconv_gan", truth_clusters[truth == "vae"][0], truth_clusters)
    partitions = {}
    for name, test_clusters in (("good", truth_clusters), ("bad", merged)):
        for method in ("kmeans", "hierarchical"):
            partitions[f"{name}/none/{method}/k-estimated/clean"] = pd.DataFrame(
                {"id": ids, "split": split,
                 "cluster": np.concatenate([pd.factorize(train_labels)[0], test_clusters])}
            )  # fmt: skip
    return manifest, feature_sets, partitions


def test_an_unseen_generator_split_in_two_is_merged_but_two_unseen_generators_are_not():
    """k-means cut one unseen generator's blob in two by a plane: both halves are new and no
    distance separates them, so they are one cluster; two unseen generators far apart stay two,
    and clusters named after labelled generators are left as they are."""
    seen = centres(GENERATORS, seed=3)
    train, train_labels = blobs(seen, 40, seed=4)
    far = {f"unseen_{i}": 3 * c for i, c in enumerate(centres(("a", "b"), seed=9).values())}
    test, truth = blobs({**seen, **far}, 30, seed=5)
    clusters = pd.factorize(truth)[0]
    first = np.flatnonzero(truth == "unseen_0")
    halves = test[first, 0] > np.median(test[first, 0])  # a cut through one blob
    clusters[first[halves]] = 7
    names = name_clusters(train, train_labels, test, clusters)
    assert [names[c] for c in (3, 4, 7)] == [NEW, NEW, NEW]
    merged, merged_names = merge_clusters(train, test, clusters, names)
    assert set(merged[first]) == {3}  # the two halves are one cluster again
    assert set(merged[truth == "unseen_1"]) == {4}  # a generator of its own stays apart
    assert (merged[clusters < 3] == clusters[clusters < 3]).all()
    assert len(np.unique(merged)) == 5
    assert merged_names == {0: "vae", 1: "dcgan", 2: "pca_gaussian", 3: NEW, 4: NEW}


def test_a_seen_generator_split_in_two_is_one_cluster_named_after_it():
    """k-means cut a labelled generator's blob in two: the one-to-one matching names one half
    after it and leaves the other new; no distance separates them, so they merge under its
    name, while an unseen generator far away stays new and the other generators apart."""
    seen = centres(GENERATORS, seed=3)
    train, train_labels = blobs(seen, 40, seed=4)
    far = {"unseen": 3 * centres(("a",), seed=9)["a"]}
    test, truth = blobs({**seen, **far}, 30, seed=5)
    clusters = pd.factorize(truth)[0]  # vae 0, dcgan 1, pca_gaussian 2, unseen 3
    vae = np.flatnonzero(truth == "vae")
    clusters[vae[test[vae, 0] > np.median(test[vae, 0])]] = 5
    names = name_clusters(train, train_labels, test, clusters)
    assert sorted(names.values()).count(NEW) == 2  # a vae half and the unseen generator
    merged, merged_names = merge_clusters(train, test, clusters, names)
    assert set(merged[vae]) == {0} and merged_names[0] == "vae"
    assert merged_names[3] == NEW and set(merged[truth == "unseen"]) == {3}
    named = [merged_names[c] for c in merged]
    assert naming_accuracy(named, truth, GENERATORS) == 1.0
    assert len(merged_names) == 4


def _two_mode_world(seed: int = 5):
    """Three labelled generators and, in the test split, an unseen generator of two modes that
    lie as far apart as two generators do (no distance joins them) plus a second unseen
    generator far from everything: (train, train labels, test, truth, the run's clusters)."""
    seen = centres(GENERATORS, seed=3)
    train, train_labels = blobs(seen, 40, seed=4)
    far = centres(("mode_a", "mode_b", "other"), seed=9)
    unseen = {"mode_a": 3 * far["mode_a"], "mode_b": 3 * far["mode_b"], "other": 3 * far["other"]}
    test, truth = blobs({**seen, **unseen}, 30, seed=seed)
    clusters = pd.factorize(truth)[0]  # vae 0, dcgan 1, pca_gaussian 2, modes 3 and 4, other 5
    truth = np.where(np.isin(truth, ["mode_a", "mode_b"]), "two_modes", truth)
    return train, train_labels, test, truth, clusters


def _runs(clusters, train_labels, joins, train_joins=()):
    """A grid of runs, one per entry of ``joins``: the run's test clusters are ``clusters``
    with the clusters of the entry put together; its training clusters are the generators,
    with those of the same entry of ``train_joins`` (if any) put together."""
    train_labels = np.asarray(train_labels)
    test, train = [], []
    for i, joined in enumerate(joins):
        run = clusters.copy()
        run[np.isin(run, joined)] = joined[0] if joined else 0
        test.append(run)
        labels = train_labels.copy()
        together = train_joins[i] if i < len(train_joins) else ()
        labels[np.isin(labels, together)] = together[0] if together else ""
        train.append(pd.factorize(labels)[0])
    return GridVotes(train=np.stack(train), labels=train_labels, test=np.stack(test))


def test_two_modes_of_an_unseen_generator_merge_when_the_grid_joins_them_most():
    """No distance joins the two modes (they lie as far apart as two generators), but two of
    four good runs put them together, more than join two labelled generators (one run, on the
    training split): one new cluster. The other unseen generator, which one run joins with a
    mode, stays apart, and no cluster named after a labelled generator changes."""
    train, train_labels, test, truth, clusters = _two_mode_world()
    names = name_clusters(train, train_labels, test, clusters)
    assert [names[c] for c in (3, 4, 5)] == [NEW, NEW, NEW]
    apart, _ = merge_clusters(train, test, clusters, names)
    assert len(np.unique(apart)) == 6  # distances alone leave the modes apart
    joins = [(), (3, 4), (3, 4), (4, 5)]
    votes = _runs(clusters, train_labels, joins, [(), (), (), ("vae", "dcgan")])
    assert grid_joined(votes, clusters, names) == {(3, 4)}
    merged, merged_names = merge_clusters(train, test, clusters, names, votes)
    assert set(merged[truth == "two_modes"]) == {3}
    assert set(merged[truth == "other"]) == {5}
    assert merged_names == {0: "vae", 1: "dcgan", 2: "pca_gaussian", 3: NEW, 5: NEW}


def test_clusters_the_grid_joins_no_more_often_than_two_known_generators_stay_apart():
    """Only two new clusters join this way (a run that puts too few clusters joins a named one
    with anything), and only above how much the grid puts together generators known to
    differ: one run joins the two modes and one run joins two labelled generators (on the
    training split, or two test clusters named after them), so the modes stay apart."""
    train, train_labels, test, _truth, clusters = _two_mode_world()
    names = name_clusters(train, train_labels, test, clusters)
    with_a_named_one = _runs(clusters, train_labels, [(), (0, 5), (0, 5)])
    assert grid_joined(with_a_named_one, clusters, names) == set()  # only two new clusters
    on_test = _runs(clusters, train_labels, [(), (3, 4), (0, 1)])
    assert grid_joined(on_test, clusters, names) == set()
    on_train = _runs(clusters, train_labels, [(), (3, 4)], [("vae", "dcgan")])
    assert grid_joined(on_train, clusters, names) == set()
    merged, _ = merge_clusters(train, test, clusters, names, on_train)
    assert len(np.unique(merged)) == 6


def test_co_association_is_the_share_of_pairs_across_two_groups_in_one_cluster_per_run():
    grid = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1]])
    a, b = np.array([True, True, False, False]), np.array([False, False, True, True])
    assert co_association(grid, a, b) == pytest.approx((1 + 0 + 0.5) / 3)


def test_select_and_summary_on_a_dataset_with_an_unseen_generator():
    manifest, feature_sets, partitions = _dataset()
    selection = select(manifest, partitions, feature_sets, k_max=6)
    assert selection.run == "good/none/kmeans/k-estimated/clean"
    assert selection.names["generator"].value_counts().to_dict() == {
        "vae": 20,
        "dcgan": 20,
        "pca_gaussian": 20,
        NEW: 20,
    }
    row, candidates = summary("d", selection, manifest, partitions, n_boot=50)
    answer = row.iloc[0]
    assert answer["run"] == selection.run and answer["k_test"] == 4 == answer["k_expected"]
    assert answer["ari_test"] == 1.0 and answer["naming_accuracy"] == 1.0
    assert answer["unseen_named_new"] == 1.0
    assert answer["grid_ari_test_min"] < answer["grid_ari_test_max"] == 1.0
    assert set(candidates["run"]) == set(partitions) and candidates["ari_test"].notna().all()
    assert candidates.set_index("run")["shortlisted"].to_dict() == {
        run: run.startswith("good/") for run in partitions
    }
    assert answer["named"] == 3
    unlabelled = manifest.assign(label=np.where(manifest["split"] == "test", "", manifest["label"]))
    row, candidates = summary("d", selection, unlabelled, partitions, n_boot=50)
    assert "ari_test" not in row and "ari_test" not in candidates  # nothing read from labels


def test_select_passes_over_runs_that_merge_two_labelled_generators_on_the_test_split():
    """Runs whose features separate every generator, so that their held-out score is perfect,
    but whose k rule put two labelled generators in one test cluster (as an unsupervised run's
    k estimate did on a LUNA16 build): more of them than good runs, so they agree most, yet
    the answer is a good run, because they leave a labelled generator unnamed."""
    manifest, feature_sets, partitions = _dataset()
    test = manifest["split"] == "test"
    truth = manifest.loc[test, "label"].to_numpy()
    under = pd.factorize(np.where(truth == "pca_gaussian", "dcgan", truth))[0]
    for name in ("under", "under2"):
        feature_sets[name] = feature_sets["good"]
        for method in ("kmeans", "hierarchical"):
            table = partitions[f"good/none/{method}/k-estimated/clean"].copy()
            table.loc[test.to_numpy(), "cluster"] = under
            partitions[f"{name}/none/{method}/k-estimated/clean"] = table
    selection = select(manifest, partitions, feature_sets, k_max=6)
    candidates = selection.candidates.set_index("run")
    merging = [run for run in partitions if run.startswith("under")]
    assert (candidates.loc[merging, "heldout_ari"] == 1.0).all()
    assert candidates.loc[merging, "agreement"].min() > candidates["agreement"].drop(merging).max()
    assert (candidates.loc[merging, "named"] < 3).all()
    assert selection.run.startswith("good/")
    assert (selection.names.groupby("generator").size() == 20).all()

"""Membership decisions (threshold, cross-validation, metrics) and the cluster-distance method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medimprint.errors import InputError
from medimprint.membership.folds import best_threshold, cross_validated_decisions
from medimprint.membership.metrics import evaluate, tpr_at_fpr
from medimprint.membership.regions import (
    RegionSetup,
    centroid_distances,
    choose_k,
    cluster_centroids,
    run_regions,
)
from medimprint.membership.submissions import submission


def test_best_threshold_maximises_f1_between_scores():
    scores = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0])
    # Calling the top 4 used gives F1 = 6/7, better than the top 2 (0.8) or all (2/3).
    assert best_threshold(scores, labels) == pytest.approx((0.4 + 0.3) / 2)
    assert best_threshold(np.array([1.0, 2.0]), np.array([1, 1])) == -np.inf


def test_cross_validated_decisions_separable_and_held_out():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    scores = labels + rng.uniform(0, 0.5, 40)
    assert (cross_validated_decisions(scores, labels) == labels).all()
    # Uninformative scores: cross-validated F1 must not look good by overfitting the threshold.
    noise = rng.normal(size=40)
    decisions = cross_validated_decisions(noise, labels)
    assert np.mean(decisions == labels) < 0.8


def test_one_class_training_split_is_refused():
    with pytest.raises(InputError, match="2 used and 2 not-used"):
        cross_validated_decisions(np.arange(5.0), np.array([1, 1, 1, 1, 0]))


def test_score_metrics_known_values():
    labels = np.array([0] * 10 + [1] * 10)
    scores = np.r_[np.arange(10), np.arange(5, 15)].astype(float)
    # No positive scores above every negative but 10 of them at or above the top negative (9).
    assert tpr_at_fpr(labels, scores, 0.0) == pytest.approx(0.5)
    metrics = evaluate(labels, (scores >= 9.5).astype(int), scores, "test", n_boot=50)
    assert metrics["precision_test"][0] == 1.0
    assert metrics["recall_test"][0] == pytest.approx(0.5)
    low, high = metrics["auc_test"][1:]
    assert low <= metrics["auc_test"][0] <= high


def test_submission_rows_sorted_and_unique():
    rows = submission(["b", "a"], np.array([1, 0]))
    assert rows.values.tolist() == [["a", 0], ["b", 1]]
    with pytest.raises(ValueError, match="duplicate"):
        submission(["a", "a"], np.array([1, 0]))


def _membership_case(seed: int = 0) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Generated images copy (with noise) the used real images; not-used ones are elsewhere."""
    rng = np.random.default_rng(seed)
    dim, n_used = 16, 40
    used = rng.normal(size=(n_used, dim))
    not_used = rng.normal(size=(n_used, dim))
    generated = np.repeat(used, 5, axis=0) + 0.05 * rng.normal(size=(5 * n_used, dim))
    rows, feats = [], []
    for i, x in enumerate(generated):
        rows.append((f"g{i:03d}", "generated", "train", ""))
        feats.append(x)
    for kind, pool in (("1", used), ("0", not_used)):
        for i, x in enumerate(pool):
            split = "train" if i % 2 == 0 else "test"
            rows.append((f"r{kind}_{i:02d}", "real", split, kind))
            feats.append(x)
    manifest = pd.DataFrame(rows, columns=["id", "role", "split", "label"])
    return manifest, manifest["id"].tolist(), np.stack(feats)


@pytest.mark.parametrize("method", ["kmeans", "hierarchical"])
def test_memorised_images_are_called_used(method):
    manifest, ids, features = _membership_case()
    setup = RegionSetup(method=method, ks=(2, 5, 20, 40, 80))
    runs = run_regions(manifest, ids, features, setup, n_boot=20)
    best = runs["min"]
    # With many clusters the nearest centroid sits on each memorised image.
    assert best.k >= 20
    assert best.metrics["f1_test"][0] > 0.85
    assert best.metrics["auc_test"][0] > 0.95
    test = best.scores[best.scores["split"] == "test"]
    assert len(test) == 40 and set(test["used"]) <= {0, 1}
    assert list(best.search["k"]) == [2, 5, 20, 40, 80]


def test_choices_never_read_test_labels():
    manifest, ids, features = _membership_case(seed=1)
    setup = RegionSetup(method="kmeans", ks=(3, 10, 30))
    reference = run_regions(manifest, ids, features, setup, n_boot=0)
    shuffled = manifest.copy()
    test = shuffled["split"] == "test"
    shuffled.loc[test, "label"] = shuffled.loc[test, "label"].sample(frac=1, random_state=3).values
    blank = manifest.copy()
    blank.loc[test, "label"] = ""
    for other in (shuffled, blank):
        runs = run_regions(other, ids, features, setup, n_boot=0)
        for distance, run in runs.items():
            assert run.k == reference[distance].k
            assert run.threshold == reference[distance].threshold
            assert run.scores["used"].tolist() == reference[distance].scores["used"].tolist()
    assert "f1_test" not in runs["min"].metrics
    assert "f1_test" in reference["min"].metrics


def test_hierarchical_subsample_assigns_every_image():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(4, 8))
    x = np.repeat(centres, 50, axis=0) + rng.normal(size=(200, 8))
    full = cluster_centroids(x, [4], RegionSetup(method="hierarchical"))
    sampled = cluster_centroids(x, [4, 500], RegionSetup(method="hierarchical", max_points=40))
    assert list(sampled) == [4]  # k above the number of images is dropped
    order = lambda c: c[np.lexsort(c.T[::-1])]  # noqa: E731
    # Assigning the other 160 images recovers the full-data centroids of well-separated groups.
    np.testing.assert_allclose(order(sampled[4]), order(full[4]), atol=1e-6)


def test_distances_and_tie_break():
    real = np.array([[0.0, 0.0]])
    centroids = np.array([[3.0, 4.0], [0.0, 1.0]])
    assert centroid_distances(real, centroids, "min")[0] == pytest.approx(1.0)
    assert centroid_distances(real, centroids, "mean")[0] == pytest.approx(3.0)
    search = pd.DataFrame(
        {"k": [2, 4, 8], "cv_auc_train": [0.6, 0.7, 0.7], "auc_train": [1, 0.6, 0.6]}
    )
    assert choose_k(search) == 4


def test_setup_refuses_bad_values():
    with pytest.raises(InputError, match="clustering method"):
        RegionSetup(method="dbscan")
    with pytest.raises(InputError, match="positive"):
        RegionSetup(method="kmeans", ks=(0, 2))


def test_default_k_list_has_the_papers_30_values():
    from medimprint.names import REGION_KS as DEFAULT_KS

    assert len(DEFAULT_KS) == len(set(DEFAULT_KS)) == 30
    assert {4, 8, 10, 20, 50, 60} <= set(DEFAULT_KS)  # the k of the paper's Table 3 runs


def _metrics_rows() -> pd.DataFrame:
    from medimprint.evaluation import metric_rows

    frames = []
    for dataset, runs in {
        "db1": {"regions/full/resnet50/hierarchical/min": (0.6, 0.9, 10)},
        "db2": {
            "regions/full/resnet50/hierarchical/min": (0.7, 0.5, 20),
            "regions/outer/resnet50/hierarchical/mean": (0.5, 0.95, 4),
        },
    }.items():
        for run, (train, test, k) in runs.items():
            values = {"f1_train": (train, train - 0.1, train + 0.1), "f1_test": (test, 0, 1)}
            values |= {"cv_auc_train": (train, np.nan, np.nan), "f1_all_used_test": (0.5, 0, 1)}
            values |= {"auc_train": (0.6, 0, 1), "auc_test": (0.7, 0, 1), "k": (k, np.nan, np.nan)}
            frames.append(metric_rows(dataset, "membership", run, values))
    return pd.concat(frames, ignore_index=True)


def test_selection_uses_training_scores_only():
    from medimprint.membership.regions import best_membership_run

    metrics = _metrics_rows()
    # db2's outer run has the best test F1 but the worse training F1: it must not be chosen.
    assert (
        best_membership_run(metrics, "db2", "regions") == "regions/full/resnet50/hierarchical/min"
    )
    with pytest.raises(InputError, match="no regions membership runs"):
        best_membership_run(metrics, "db3", "regions")


def test_regions_table_has_the_papers_layout():
    from medimprint.report.tables import best_region_table, regions_table

    table = regions_table(_metrics_rows())
    assert table.index.names == ["crop", "features", "method", "distance"]
    row = table.loc[("full", "resnet50", "hierarchical", "min")]
    assert row[("db1", "k")] == "10" and row[("db2", "F1 test")] == "0.500"
    assert row[("average", "F1 train (CV)")] == "0.650"  # mean of 0.6 and 0.7
    assert row[("db2", "F1 all used")] == "0.500"  # beside every test F1
    chosen = best_region_table(_metrics_rows(), "regions")
    assert chosen.loc["db1", "f1_train (in-sample, after selection)"] == "0.600 [0.500, 0.700]"


def test_membership_figures_have_one_panel_per_run_and_group():
    from medimprint.report.membership_figures import auc_against_k, score_histograms

    rng = np.random.default_rng(0)
    scores = pd.DataFrame(
        {
            "split": ["train"] * 20 + ["test"] * 10,
            "label": ["1", "0"] * 10 + [""] * 10,
            "distance": np.r_[rng.normal(size=29), 1e6],  # one far outlier
        }
    )
    fig = score_histograms({"run a": scores, "run b": scores})
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["run a", "run b"]
    assert axes[0].get_xlim()[1] < 100  # the outlier is clipped into the last bin
    search = pd.DataFrame({"k": [2, 4, 2, 4], "cv_auc_train": 0.5, "line": ["x", "x", "y", "y"]})
    fig = auc_against_k({"full / kmeans": search, "lung / kmeans": search, "outer": search})
    visible = [ax for ax in fig.get_axes() if ax.axison]
    assert len(fig.get_axes()) == 4 and len(visible) == 3
    assert len(visible[0].get_lines()) == 3  # one line per backbone/distance, chance; no test


def test_decide_with_a_methods_own_rule_applies_it_to_both_splits():
    from medimprint.data.views import MembershipView
    from medimprint.membership.decisions import decide

    train = pd.DataFrame({"id": ["a", "b", "c", "d"], "label": [1, 0, 1, 0]})
    truth = pd.Series([1, 0], index=["x", "y"])
    view = MembershipView(train, ["y", "x"], truth)
    run = decide(
        view, np.array([0.5, -1.0, -0.2, 0.3]), np.array([0.1, -0.1]), threshold=0.0, n_boot=0
    )
    assert run.scores["used"].tolist() == [1, 0, 0, 1, 1, 0]
    assert run.scores["label"].tolist() == ["1", "0", "1", "0", "0", "1"]  # test labels by id
    assert run.metrics["f1_test"][0] == 0.0 and run.threshold == 0.0


def test_attacks_table_lists_attack_runs_only():
    from medimprint.evaluation import metric_rows
    from medimprint.report.tables import attacks_table

    attack = metric_rows("db1", "membership", "attacks/gan_leaks/pixels", {"auc_test": (0.8, 0, 1)})
    table = attacks_table(pd.concat([_metrics_rows(), attack]))
    assert table.index.tolist() == ["attacks/gan_leaks/pixels"]  # region runs left out
    assert table.loc["attacks/gan_leaks/pixels", ("db1", "AUC test")] == "0.800"


def test_attacks_table_includes_the_papers_reconstruction_runs():
    from medimprint.evaluation import metric_rows
    from medimprint.report.tables import attacks_table

    rows = [
        metric_rows("db1", "membership", run, {"f1_test": (0.5, 0, 1)})
        for run in ("autoencoder/ssim", "attacks/ensemble")
    ]
    assert attacks_table(pd.concat(rows)).index.tolist() == ["autoencoder/ssim", "attacks/ensemble"]


def test_roc_figure_uses_test_labels_when_present_and_training_curve_plots_losses():
    from medimprint.report.membership_figures import roc_figure, training_curve

    table = pd.DataFrame(
        {
            "split": ["train"] * 4 + ["test"] * 4,
            "label": ["1", "0", "1", "0", "1", "0", "1", "0"],
            "score": ["0.9", "0.1", "0.8", "0.2", "0.3", "0.7", "0.9", "0.1"],
        }
    )
    linear, _ = roc_figure({"a": table}).get_axes()
    legend = linear.get_legend_handles_labels()[1]
    assert "test split" in linear.get_xlabel() and legend == ["a (0.750)"]
    blind = table.assign(label=["1", "0", "1", "0", "", "", "", ""])
    linear, _ = roc_figure({"a": blind}).get_axes()
    legend = linear.get_legend_handles_labels()[1]
    assert "train split" in linear.get_xlabel() and legend == ["a (1.000)"]
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": ["0.5", "0.2"], "val_loss": [0.6, 0.3]})
    assert len(training_curve(history).get_axes()[0].get_lines()) == 2


def test_error_examples_show_image_reconstruction_and_error_per_example():
    from medimprint.report.membership_figures import error_examples

    rows = pd.DataFrame({"id": ["a", "b"], "label": ["1", "0"]})
    images = np.zeros((2, 8, 8), dtype=np.float32)
    recon = images + 0.5
    axes = error_examples(rows, images, recon).get_axes()
    assert len(axes) == 6 and axes[0].get_title() == "a\nused"
    assert axes[4].get_images()[0].get_array().max() == pytest.approx(0.25)  # error row

"""Clustering, metrics and the attribution run on synthetic features with a known answer."""

import numpy as np
import pandas as pd
import pytest

from medimprint.attribution.runs import AttributionSetup, run_attribution, submission
from medimprint.clustering import cluster, reduce_features
from medimprint.errors import InputError
from medimprint.evaluation import CLUSTER_METRICS, bootstrap_interval, metric_rows, purity


def blobs(n_per: int, k: int, dim: int = 16, spread: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (k, dim))
    labels = np.repeat(np.arange(k), n_per)
    return centres[labels] + rng.normal(0, spread, (len(labels), dim)), labels


@pytest.mark.parametrize("method", ["kmeans", "hierarchical"])
def test_cluster_recovers_separated_blobs(method):
    x, labels = blobs(20, 4)
    found = cluster(x, 4, method, seed=1)
    assert CLUSTER_METRICS["ari"](labels, found) == pytest.approx(1.0)


def test_cluster_is_deterministic_and_checks_k():
    x, _ = blobs(10, 3, spread=3.0)
    assert np.array_equal(cluster(x, 3, "kmeans", seed=5), cluster(x, 3, "kmeans", seed=5))
    with pytest.raises(InputError, match="k must be"):
        cluster(x, 1, "kmeans")
    with pytest.raises(InputError, match="unknown clustering method"):
        cluster(x, 3, "dbscan")


def test_pca_reducers_keep_variance_fraction():
    x, _ = blobs(30, 3, dim=40, spread=2.0)
    full = reduce_features(x, "none")
    assert full.shape == x.shape
    assert np.allclose(full.mean(axis=0), 0, atol=1e-9)
    d90 = reduce_features(x, "pca90").shape[1]
    d95 = reduce_features(x, "pca95").shape[1]
    assert 1 <= d90 <= d95 < 40
    with pytest.raises(InputError, match="unknown reducer"):
        reduce_features(x, "pca50")


def test_purity_and_bootstrap_interval():
    truth = np.array([0, 0, 0, 1, 1, 1])
    assert purity(truth, np.array([0, 0, 1, 1, 1, 1])) == pytest.approx(5 / 6)
    value, low, high = bootstrap_interval(
        CLUSTER_METRICS["ari"], np.repeat([0, 1, 2], 30), np.repeat([0, 1, 2], 30), n_boot=50
    )
    assert value == low == high == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 3, 90)
    value, low, high = bootstrap_interval(
        CLUSTER_METRICS["ari"], np.repeat([0, 1, 2], 30), noisy, n_boot=200, seed=3
    )
    assert low <= value <= high and high - low > 0.01
    rows = metric_rows("d", "attribution", "run", {"ari_test": (value, low, high)})
    assert list(rows.columns) == [
        "dataset",
        "subtask",
        "run",
        "metric",
        "value",
        "ci_low",
        "ci_high",
    ]


def toy_attribution(test_labels: bool):
    """3 train generators, 4 test generators (one unseen), features = separated blobs."""
    x, labels = blobs(12, 4, seed=2)
    names = np.array(["vae", "dcgan", "pca", "unseen"])[labels]
    rows = []
    for i, name in enumerate(names):
        if name != "unseen":
            rows.append((f"tr{i:03d}", "generated", "train", name))
        rows.append((f"te{i:03d}", "generated", "test", name if test_labels else ""))
    manifest = pd.DataFrame(rows, columns=["id", "role", "split", "label"])
    lookup = dict(zip([f"{i:03d}" for i in range(len(x))], x, strict=True))
    features = np.array([lookup[i[2:]] for i in manifest["id"]])
    return manifest, list(manifest["id"]), features


def test_attribution_run_scores_train_and_test():
    manifest, ids, features = toy_attribution(test_labels=True)
    assignments, metrics = run_attribution(
        manifest, ids, features, test_generators=4, setup=AttributionSetup(), n_boot=20
    )
    assert metrics["k_train"][0] == 3 and metrics["k_test"][0] == 4
    assert metrics["dim_train"][0] == metrics["dim_test"][0] == 16
    assert metrics["ari_train"][0] == pytest.approx(1.0)
    assert metrics["ari_test"][0] == pytest.approx(1.0)
    assert set(assignments["id"]) == set(ids)
    sub = submission(assignments)
    assert len(sub) == (manifest["split"] == "test").sum() and sub["id"].is_unique


def test_attribution_without_test_labels_reports_train_only():
    manifest, ids, features = toy_attribution(test_labels=False)
    _, metrics = run_attribution(
        manifest, ids, features, test_generators=4, setup=AttributionSetup(method="hierarchical")
    )
    assert "ari_train" in metrics and "ari_test" not in metrics


def test_estimated_k_finds_the_unseen_fourth_generator():
    manifest, ids, features = toy_attribution(test_labels=True)
    setup = AttributionSetup(k="estimated", k_max=8)
    _, metrics = run_attribution(manifest, ids, features, test_generators=4, setup=setup, n_boot=0)
    assert metrics["k_train"][0] == 3 and metrics["k_train_expected"][0] == 3
    assert metrics["k_test"][0] == 4
    assert metrics["ari_test"][0] == pytest.approx(1.0)


def test_learned_metric_reports_test_only():
    """A reducer fit on the training labels must not score itself on those labels."""
    manifest, ids, features = toy_attribution(test_labels=True)
    setup = AttributionSetup(reducer="whiten")
    _, metrics = run_attribution(manifest, ids, features, test_generators=4, setup=setup, n_boot=0)
    assert "ari_train" not in metrics and "ari_test" in metrics
    with pytest.raises(InputError, match="unknown reducer"):
        run_attribution(
            manifest, ids, features, test_generators=4, setup=AttributionSetup(reducer="tsne")
        )


def test_report_grid_has_the_papers_layout():
    from medimprint.report.tables import attribution_table, metrics_html

    nan = float("nan")
    rows = pd.concat(
        [
            metric_rows(
                "d",
                "attribution",
                f"lbp/{reducer}/kmeans/k-given/clean",
                {
                    "ari_train": (0.5, 0.4, 0.6),
                    "ari_test": (0.7, 0.6, 0.8),
                    "dim_test": (d, nan, nan),
                },
            )
            for reducer, d in (("none", 10.0), ("pca95", 3.0))
        ]
    )
    grid = attribution_table(rows, "d")
    assert list(grid.index) == ["lbp (10 dims)", "lbp + pca95 (3 dims)"]
    assert list(grid.columns) == [("kmeans", "train ARI"), ("kmeans", "test ARI")]
    assert grid.iloc[0, 1] == "0.700 [0.600, 0.800]"
    assert "lbp + pca95 (3 dims)" in metrics_html(rows)


def test_run_ids_round_trip():
    from medimprint.attribution.runs import parse_run_id, run_id

    setup = AttributionSetup(reducer="pca95", method="hierarchical", k="estimated", seed=3)
    run = run_id("lbp+dct", setup, "jpeg90")
    assert run == "lbp+dct/pca95/hierarchical/k-estimated/jpeg90"
    assert parse_run_id(run, seed=3) == ("lbp+dct", setup, "jpeg90")
    with pytest.raises(ValueError, match="not an attribution run id"):
        parse_run_id("lbp/none/kmeans/k-given")


def grid_rows(values: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Metric rows of runs ``{run: (train ARI, test ARI)}`` (nan train ARI: left out)."""
    frames = []
    for run, (train, test) in values.items():
        scores = {"ari_test": (test, test, test), "dim_test": (4.0, np.nan, np.nan)}
        if not np.isnan(train):
            scores["ari_train"] = (train, train, train)
        frames.append(metric_rows("d", "attribution", run, scores))
    return pd.concat(frames, ignore_index=True)


def test_run_for_the_figures_is_chosen_on_training_labels_only():
    from medimprint.report.tables import best_attribution_run

    rows = grid_rows(
        {
            "lbp/none/kmeans/k-given/clean": (0.9, 0.2),
            "dct/none/kmeans/k-given/clean": (0.8, 1.0),  # best on test: must not matter
            "dct/none/kmeans/k-given/jpeg90": (0.95, 0.1),  # perturbed runs are not shown
            "dct/lda/kmeans/k-given/clean": (np.nan, 1.0),
        }
    )
    assert best_attribution_run(rows, "d") == "lbp/none/kmeans/k-given/clean"
    only_learned = grid_rows({"dct/lda/kmeans/k-given/clean": (np.nan, 1.0)})
    assert best_attribution_run(only_learned, "d") == "dct/lda/kmeans/k-given/clean"
    with pytest.raises(ValueError, match="no attribution runs"):
        best_attribution_run(rows, "other")


def test_robustness_table_shows_the_change_per_perturbation():
    from medimprint.report.tables import attribution_table, robustness_table

    rows = grid_rows(
        {
            "lbp/none/kmeans/k-given/clean": (0.9, 0.80),
            "lbp/none/kmeans/k-given/jpeg90": (0.9, 0.50),
            "lbp/none/kmeans/k-given/resize50": (0.9, 0.85),
        }
    )
    table = robustness_table(rows, "d")
    assert list(table.columns) == [
        "clean ARI",
        "jpeg90 ARI",
        "jpeg90 change",
        "resize50 ARI",
        "resize50 change",
    ]
    assert table.loc["lbp/none/kmeans/k-given"].tolist() == [
        "0.800",
        "0.500",
        "-0.300",
        "0.850",
        "+0.050",
    ]
    # the paper-layout grid keeps to the test images as made
    assert attribution_table(rows, "d").iloc[0].tolist() == [
        "0.900 [0.900, 0.900]",
        "0.800 [0.800, 0.800]",
    ]
    assert robustness_table(rows[~rows["run"].str.endswith(("jpeg90", "resize50"))], "d").empty

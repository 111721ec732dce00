"""GeneratorMetric: a metric fit on labelled generators, applied before clustering a test set."""

import numpy as np
import pytest

from medimprint.attribution.metric_learning import DEFAULT_KIND, GeneratorMetric
from medimprint.clustering import cluster, reduce_features
from medimprint.errors import InputError
from medimprint.evaluation import CLUSTER_METRICS
from medimprint.names import METRIC_KINDS


def generators(classes, n_per=60, dim=30, nuisance=12.0, seed=0):
    """Features of ``classes`` out of 4 generators whose means differ in a 4-dim subspace; all
    share a large rank-5 nuisance (content) variation in other directions, plus unit noise."""
    basis, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(dim, 9)))
    means = 5.0 * np.random.default_rng(1).normal(size=(4, 4)) @ basis[:, :4].T
    rng = np.random.default_rng(seed)
    labels = np.repeat(classes, n_per)
    content = nuisance * rng.normal(size=(len(labels), 5)) @ basis[:, 4:].T
    return means[labels] + content + rng.normal(size=(len(labels), dim)), labels


def ari_kmeans(x, labels):
    found = cluster(x, len(np.unique(labels)), "kmeans", seed=0)
    return CLUSTER_METRICS["ari"](labels, found)


def test_whitening_helps_on_an_unseen_generator():
    train = generators([0, 1, 2], seed=2)
    test_x, test_y = generators([0, 1, 2, 3], seed=3)
    plain = ari_kmeans(reduce_features(test_x, "none"), test_y)
    learned = ari_kmeans(GeneratorMetric("whiten").fit(*train).transform(test_x), test_y)
    assert plain < 0.2 and learned > 0.8


@pytest.mark.parametrize("kind", METRIC_KINDS)
def test_every_kind_helps_on_the_seen_generators(kind):
    train = generators([0, 1, 2], seed=2)
    test_x, test_y = generators([0, 1, 2], seed=3)
    plain = ari_kmeans(reduce_features(test_x, "none"), test_y)
    learned = ari_kmeans(GeneratorMetric(kind).fit(*train).transform(test_x), test_y)
    assert learned > plain + 0.5


@pytest.mark.parametrize(
    ("kind", "n_components", "dims"),
    [
        ("lda", None, 2),
        ("lda", 1, 1),
        ("lda_pca", 6, 6),
        ("whiten", None, 30),
        ("whiten", 4, 4),
    ],
)
def test_output_shapes(kind, n_components, dims):
    train_x, train_y = generators([0, 1, 2], seed=2)
    test_x, _ = generators([0, 3], n_per=7, seed=3)
    metric = GeneratorMetric(kind, n_components=n_components).fit(train_x, train_y)
    assert metric.transform(test_x).shape == (14, dims) and metric.n_features_out_ == dims


def test_lda_pca_adds_residual_components_but_no_null_ones():
    x, labels = generators([0, 1, 2], n_per=6, seed=2)  # 18 rows: rank < 30 dims
    assert 2 < GeneratorMetric("lda_pca").fit_transform(x, labels).shape[1] <= 30
    out = GeneratorMetric("lda_pca", n_components=500).fit_transform(x, labels)
    assert out.shape[1] <= 17 and np.abs(out).max() < 1e3


def test_default_kind_is_whitening():
    assert DEFAULT_KIND == "whiten" and GeneratorMetric().kind == DEFAULT_KIND


def test_fit_transform_is_deterministic():
    train = generators([0, 1, 2], seed=2)
    test_x, _ = generators([0, 1, 2, 3], seed=3)
    for kind in METRIC_KINDS:
        first = GeneratorMetric(kind, seed=4).fit(*train).transform(test_x)
        second = GeneratorMetric(kind, seed=4).fit(*train).transform(test_x)
        assert np.array_equal(first, second)


def test_refuses_bad_input():
    x, labels = generators([0, 1], n_per=10)
    with pytest.raises(InputError, match="at least 2 labelled generators"):
        GeneratorMetric().fit(x, np.zeros(len(x), dtype=int))
    with pytest.raises(InputError, match="unknown metric kind"):
        GeneratorMetric("pca").fit(x, labels)
    with pytest.raises(InputError, match="labels for"):
        GeneratorMetric().fit(x, labels[:-1])
    with pytest.raises(InputError, match="not fitted"):
        GeneratorMetric().transform(x)
    metric = GeneratorMetric().fit(x, labels)
    with pytest.raises(InputError, match="expected at least 2 rows of 30"):
        metric.transform(x[:, :5])


def test_features_without_spread_are_refused_with_the_fix():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 5)
    collapsed = np.repeat(rng.normal(size=(3, 6)), 5, axis=0)  # one point per generator
    for kind in ("whiten", "lda_pca"):
        with pytest.raises(InputError, match="spread within generators"):
            GeneratorMetric(kind).fit(collapsed, labels)
    assert np.isfinite(GeneratorMetric("lda").fit(collapsed, labels).transform(collapsed)).all()
    with pytest.raises(InputError, match="do not vary"):
        GeneratorMetric("whiten").fit(np.ones((15, 6)), labels)

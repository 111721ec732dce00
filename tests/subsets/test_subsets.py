"""Training-subset identification: each method finds what its idea targets, a null generator
sits at chance, the answer is chosen without test labels, the submission is the task's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medimprint.data.views import SubsetsView
from medimprint.errors import InputError
from medimprint.evaluation import metric_rows
from medimprint.names import SUBSET_METHODS, subset_run_id
from medimprint.subsets.runs import run_metrics, run_space
from medimprint.subsets.selection import answer_row, choose, confusion, submission

SUBSETS = 4


def synthetic(
    seed: int, *, copies: float = 1.0, prints: float = 1.0, null: bool = False, labelled: int = 24
):
    """A manifest and features: each subset's real images around its own anatomy; generator s
    draws ``copies`` of subset s's anatomy plus a fingerprint of its own (``prints``); with
    ``null`` one generator makes every labelled and unknown image; ``labelled`` images per
    subset."""
    rng = np.random.default_rng(seed)
    d, patients = 32, 5
    # each subset is a few patients: its images are mixtures, not one blob
    anatomy = rng.normal(size=(SUBSETS, patients, d)) * 3
    fingerprint = rng.normal(size=(SUBSETS, d))
    rows, x = [], []
    for s in range(SUBSETS):
        for i in range(20):
            rows.append((f"real/s{s}/image_{i:05d}", "real", "train", f"s{s}"))
            x.append(anatomy[s, i % patients] + 0.5 * rng.normal(size=d))
    for split, n in (("train", labelled), ("test", 12)):
        for s in range(SUBSETS):
            g = 0 if null else s
            for i in range(n):
                rows.append((f"{split}/s{s}_{i:05d}", "generated", split, f"s{s}"))
                drawn = anatomy[g, rng.integers(patients)]
                x.append(copies * drawn + prints * fingerprint[g] + 0.5 * rng.normal(size=d))
    manifest = pd.DataFrame(rows, columns=["id", "role", "split", "label"])
    manifest["path"] = "/data/" + manifest["id"] + ".png"
    return manifest, np.asarray(x)


def accuracies(manifest, x, seed=0):
    view = SubsetsView.of(manifest)
    predictions = run_space(view, list(manifest["id"]), x, "f", SUBSET_METHODS, seed=seed)
    metrics = run_metrics(predictions, view, n_boot=0)
    return {run.split("/")[1]: m for run, m in metrics.items()}, predictions, view


def test_each_method_finds_what_its_idea_targets():
    # generators that copy their subset's anatomy and leave no fingerprint: the real subsets
    # answer it without a generated label
    copied, _, _ = accuracies(*synthetic(0, prints=0.0))
    assert copied["nearest_real"]["accuracy_test"][0] > 0.95
    # generators that draw the same anatomy-free images but sign them: only what is learned
    # from the labelled generated images finds them
    signed, _, _ = accuracies(*synthetic(0, copies=0.0))
    assert signed["nearest_real"]["accuracy_test"][0] < 0.6
    for method in ("knn", "logistic", "logistic_real"):
        assert signed[method]["accuracy_test"][0] > 0.9, method


def test_the_real_distances_add_what_few_labelled_images_miss():
    """Copied patients, no fingerprint, 6 labelled images per subset: the regression that also
    sees the distances to the real subsets beats the one without them (3 seeds)."""
    gains = {"accuracy_train": [], "accuracy_test": []}
    for seed in range(3):
        got, _, _ = accuracies(*synthetic(seed, prints=0.0, labelled=6))
        for metric, values in gains.items():
            values.append(got["logistic_real"][metric][0] - got["logistic"][metric][0])
    assert np.mean(gains["accuracy_train"]) > 0.1
    assert np.mean(gains["accuracy_test"]) > 0.0


def test_a_null_generator_sits_at_chance_for_every_method():
    """One generator for every label (20 seeds): no method beats chance (1/4) beyond noise."""
    scores = {method: [] for method in SUBSET_METHODS}
    for seed in range(20):
        got, _, _ = accuracies(*synthetic(seed, null=True), seed=seed)
        for method in SUBSET_METHODS:
            scores[method].append(got[method]["accuracy_test"][0])
    for method, values in scores.items():
        mean, se = np.mean(values), np.std(values, ddof=1) / np.sqrt(len(values))
        assert abs(mean - 1 / SUBSETS) < max(3 * se, 0.05), (method, mean, se)


def test_training_accuracy_is_out_of_fold():
    """Learned from every labelled image, a 1-NN would score 1.0 on them whatever the data;
    out of fold, on noise, the k-NN and the regression sit near chance."""
    manifest, x = synthetic(2, null=True)
    x = np.random.default_rng(3).normal(size=x.shape)
    got, _, _ = accuracies(manifest, x)
    for method in ("knn", "logistic", "logistic_real"):
        assert got[method]["accuracy_train"][0] < 0.5, method


def test_the_answer_is_chosen_without_test_labels_and_written_as_the_task_asks():
    manifest, x = synthetic(4, copies=0.0)
    _, predictions, view = accuracies(manifest, x)
    metrics = run_metrics(predictions, view, n_boot=50)
    table = pd.concat([metric_rows("d", "subsets", run, m) for run, m in metrics.items()])
    run = choose(table)
    assert run != subset_run_id("nearest_real", "f")
    # the choice reads only training accuracies: scrambling the test ones changes nothing
    scrambled = table.copy()
    test = scrambled["metric"] == "accuracy_test"
    scrambled.loc[test, "value"] = np.random.default_rng(0).permutation(table.loc[test, "value"])
    assert choose(scrambled) == run
    # ties go to the simpler method
    tied = table.assign(value=np.where(table["metric"] == "accuracy_train", 0.5, table["value"]))
    assert choose(tied) == subset_run_id("nearest_real", "f")
    test_rows = predictions[(predictions["run"] == run) & (predictions["split"] == "test")]
    predicted = test_rows.set_index("id")["predicted"]
    matrix = confusion(view.truth, predicted, view.subsets)
    assert matrix.to_numpy().sum() == len(view.unknown)
    assert np.trace(matrix.to_numpy()) == int((view.truth.loc[predicted.index] == predicted).sum())
    sub = submission(predicted, manifest)
    assert list(sub.columns) == ["image_path", "predicted_class"]
    assert len(sub) == len(view.unknown) and sub["image_path"].is_unique
    assert sub["image_path"].str.endswith(".png").all()
    assert set(sub["predicted_class"]) <= set(view.subsets)
    row = answer_row("d", run, table, view).iloc[0]
    assert row["run"] == run and row["chance"] == 1 / SUBSETS
    assert row["runs_test_min"] <= row["accuracy_test"] <= row["runs_test_max"]


def test_bad_input_is_named():
    manifest, x = synthetic(5)
    one = manifest[~manifest["label"].isin(["s1", "s2", "s3"]) | (manifest["role"] == "real")]
    with pytest.raises(InputError, match="at least 2 subsets"):
        SubsetsView.of(one)
    orphan = manifest[~((manifest["role"] == "real") & (manifest["label"] == "s3"))]
    view = SubsetsView.of(orphan)
    with pytest.raises(InputError, match=r"\['s3'\] have labelled generated images but no real"):
        run_space(view, list(manifest["id"]), x, "f", ["knn"])
    view = SubsetsView.of(manifest)
    with pytest.raises(InputError, match="feature store lacks"):
        run_space(view, list(manifest["id"])[:-1], x[:-1], "f", ["knn"])

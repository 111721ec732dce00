"""The workflow end to end on the tiny test config, its rerun plan, report and bad input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BIN, REPO, snakemake

from medimprint.io import write_gray_png
from medimprint.names import ATTACKS, SUBSET_METHODS, runs_in
from medimprint.report.results_page import config_section, stale_sections, updated_page

TEST_CONFIG = REPO / "config" / "test.yaml"
pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A workdir where the test config ran to completion."""
    workdir = tmp_path_factory.mktemp("run")
    snakemake(workdir, "--configfile", str(TEST_CONFIG), "--cores", "2")
    return workdir


def test_metrics_have_ari_for_every_run(finished):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    metrics = pd.read_csv(finished / "results" / "metrics.tsv", sep="\t")
    assert list(metrics.columns) == [
        "dataset",
        "subtask",
        "run",
        "metric",
        "value",
        "ci_low",
        "ci_high",
    ]
    grid = config["attribution"]
    feature_sets = [*config["backbones"], *("+".join(c) for c in grid["combine"])]
    runs = {
        f"{f}/{r}/{m}/k-{k}/{view}"
        for f in feature_sets
        for r in grid["reducers"]
        for m in grid["methods"]
        for k in grid["k"]
        for view in ["clean", *grid["robustness"]]
    }
    test_ari = metrics[metrics["metric"] == "ari_test"]
    assert set(test_ari["run"]) == runs and len(test_ari) == len(runs)
    # a metric learned on the training generators is not scored on them
    train_ari = metrics[metrics["metric"] == "ari_train"]
    assert set(train_ari["run"]) == {run for run in runs if "/whiten/" not in run}
    ari = pd.concat([test_ari, train_ari])
    assert ari["value"].between(-1, 1).all()
    assert (ari["ci_low"] <= ari["value"] + 1e-9).all()
    assert (ari["value"] <= ari["ci_high"] + 1e-9).all()
    k_test = metrics[metrics["metric"] == "k_test"].set_index("run")["value"]
    assert (k_test[[r for r in runs if "/k-given/" in r]] == 3).all()


def names_of_test_images(manifest: pd.DataFrame) -> list[str]:
    """The names of a manifest's test images as the user's files have them (the tiny build
    writes the task's layout: names repeat across role folders, labels under 'file,model')."""
    test = manifest[manifest["split"] == "test"]
    assert not test["id"].equals(test["path"].map(lambda p: Path(p).stem))  # ids role-qualified
    return [Path(path).stem for path in test["path"]]


def test_submissions_name_every_test_image_once(finished):
    manifest = pd.read_csv(
        finished / "results" / "tiny_attribution" / "manifest.tsv", sep="\t", dtype=str
    )
    assert manifest["id"].is_unique
    assert manifest["path"].map(lambda p: Path(p).stem).duplicated().any()
    test_ids = set(names_of_test_images(manifest))
    files = sorted((finished / "results" / "tiny_attribution" / "submissions").glob("*.csv"))
    # (2 backbones + 1 combination) x 8 setups x (clean + jpeg90), and the answer
    assert len(files) == 49
    for path in files:
        sub = pd.read_csv(path, header=None, names=["id", "cluster"], dtype={"id": str})
        assert set(sub["id"]) == test_ids and sub["id"].is_unique
        if "k-given" in path.name:
            assert sub["cluster"].nunique() <= 3


def test_the_attribution_answer_is_a_k_estimated_run_with_named_clusters(finished):
    results = finished / "results" / "tiny_attribution"
    answer = pd.read_csv(results / "attribution" / "selected.tsv", sep="\t")
    candidates = pd.read_csv(results / "attribution" / "selected_candidates.tsv", sep="\t")
    assert len(answer) == 1 and len(candidates) == 12  # 3 feature sets x 4 setups, clean
    run = answer["run"].iloc[0]
    assert run in set(candidates["run"]) and run.endswith("/k-estimated/clean")
    chosen = candidates.set_index("run").loc[run]
    assert (
        chosen["shortlisted"]
        and chosen["agreement"] == candidates["agreement"][candidates["shortlisted"]].max()
    )
    most_named = candidates["named"] == candidates["named"].max()
    assert (most_named | ~candidates["shortlisted"]).all() and answer["named"].iloc[0] <= 2
    feature_set, reducer, method = run.split("/")[:3]
    own = (
        results
        / "submissions"
        / f"attribution_{feature_set}_clean_{reducer}_{method}_k-estimated.csv"
    )
    assert (results / "submissions" / "attribution_selected.csv").read_text() == own.read_text()
    names = pd.read_csv(results / "attribution" / "selected_names.tsv", sep="\t")
    assert names["generator"].isin(["vae", "pca_gaussian", "new"]).all()
    assert 0 <= answer["naming_accuracy"].iloc[0] <= 1
    assert answer["grid_ari_test_min"].iloc[0] <= answer["ari_test"].iloc[0]


def test_the_subsets_answer_is_chosen_by_training_accuracy_and_submitted(finished):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    results = finished / "results" / "tiny_subsets"
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    spaces, methods = list(config["backbones"]), SUBSET_METHODS  # the defaults
    assert set(metrics["run"]) == {f"subsets/{m}/{s}" for m in methods for s in spaces}
    train = metrics[metrics["metric"] == "accuracy_train"].set_index("run")["value"]
    answer = pd.read_csv(results / "subsets" / "selected.tsv", sep="\t").iloc[0]
    assert answer["run"] in train.index and train[answer["run"]] == train.max()
    assert answer["subsets"] == 2 and answer["unknown"] == 12 and answer["chance"] == 0.5
    submission = pd.read_csv(results / "submissions" / "subsets_selected.csv", dtype=str)
    assert list(submission.columns) == ["image_path", "predicted_class"]
    assert sorted(submission["image_path"]) == [f"image_{i:05d}.png" for i in range(12)]
    assert set(submission["predicted_class"]) <= {"db1", "db2"}
    method, space = answer["run"].split("/")[1:]
    own = results / "submissions" / f"subsets_{method}_{space}.csv"
    assert own.read_text() == (results / "submissions" / "subsets_selected.csv").read_text()
    confusion = pd.read_csv(results / "subsets" / "selected_confusion.tsv", sep="\t")
    assert confusion[["db1", "db2"]].to_numpy().sum() == 12
    correct = np.trace(confusion[["db1", "db2"]].to_numpy()) / 12
    assert correct == pytest.approx(answer["accuracy_test"])
    report = (finished / "results" / "report" / "metrics.html").read_text()
    assert "Training subsets — the answer per dataset" in report


def test_membership_dataset_is_ingested(finished):
    manifest = pd.read_csv(finished / "results" / "tiny_db1" / "manifest.tsv", sep="\t", dtype=str)
    real_train = manifest[(manifest["role"] == "real") & (manifest["split"] == "train")]
    assert sorted(real_train["label"].unique()) == ["0", "1"]
    assert (manifest["role"] == "generated").sum() == 20


def test_second_run_has_nothing_to_do(finished):
    proc = snakemake(finished, "--configfile", str(TEST_CONFIG), "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    rows = [line.split() for line in table.splitlines()[3:] if line.strip()]
    return {rule: int(count) for rule, count in rows}


def test_adding_a_backbone_plans_only_its_jobs_and_the_aggregates(finished, tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["backbones"]["dct"] = {}
    path = tmp_path / "more.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(finished, "--configfile", str(path), "-n")
    grid = config["attribution"]
    views = 1 + len(grid["robustness"])
    runs = len(grid["reducers"]) * len(grid["methods"]) * len(grid["k"]) * views
    crops, methods = config["regions"]["crops"], config["regions"]["methods"]
    assert planned_jobs(proc.stdout) == {
        # attribution, each crop of the membership set, the subsets set
        "extract_features": 1 + len(crops) + 1,
        "extract_perturbed_features": len(grid["robustness"]),
        "attribution_clusters": runs,
        "membership_regions": len(crops) * len(methods),
        "subsets_runs": 1,  # every method in the new space
        "subsets_selected": 1,  # the subsets answer, chosen again with the new space's runs
        "dataset_metrics": 3,
        "attribution_figures": 1,
        "attribution_selected": 1,  # the attribution answer, with the new backbone's runs
        "membership_best_region": 1,
        "membership_selected": 1,  # the answer, now with the new backbone's candidates
        "membership_figures": 1,
        "metrics_report": 1,
        "all": 1,
    }


def test_a_second_run_offline_gives_byte_identical_results(finished, tmp_path):
    """Determinism and no network: the test config again, in a fresh folder, with every socket
    of Snakemake and its jobs refused (tests/inject/sitecustomize.py): same metrics and
    submissions, byte for byte, and not one connection attempted."""
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    env = {"PYTHONPATH": str(REPO / "tests" / "inject")}
    env["MEDIMPRINT_TEST_NO_NETWORK"] = str(attempts)
    workdir = tmp_path / "again"
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    cmd += ["--configfile", str(TEST_CONFIG), "--cores", "2"]
    proc = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [p.read_text() for p in attempts.iterdir()] == []

    def outputs(root: Path) -> dict[str, bytes]:
        files = [*root.glob("results/**/metrics.tsv"), *root.glob("results/*/submissions/*.csv")]
        return {str(f.relative_to(root)): f.read_bytes() for f in sorted(files)}

    first, second = outputs(finished), outputs(workdir)
    assert len(first) > 50 and first.keys() == second.keys()
    assert [path for path in first if first[path] != second[path]] == []


def test_changing_a_clustering_setting_reruns_clustering_not_features(finished, tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["regions"]["k"] = [2, 4]
    path = tmp_path / "fewer-k.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(finished, "--configfile", str(path), "-n")
    grid = config["regions"]
    backbones = grid.get("backbones", config["backbones"])
    assert planned_jobs(proc.stdout) == {
        "membership_regions": len(backbones) * len(grid["crops"]) * len(grid["methods"]),
        "membership_best_region": 1,
        "membership_selected": 1,
        "membership_figures": 1,
        "dataset_metrics": 1,
        "metrics_report": 1,
        "all": 1,
    }


def test_a_build_of_its_own_seed_is_remade_and_the_same_seed_changes_nothing(finished, tmp_path):
    """`builds.<name>.seed` seeds that build instead of the top-level seed (several fresh builds
    in one config): the top-level value again plans nothing, another remakes the build."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    for seed, remade in ((config["seed"], False), (config["seed"] + 1, True)):
        config["builds"]["tiny"]["seed"] = seed
        path = tmp_path / f"seed{seed}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        proc = snakemake(finished, "--configfile", str(path), "-n")
        if remade:
            plan = planned_jobs(proc.stdout)
            assert plan["real_slices"] == plan["split_real"] == plan["write_layout"] == 1
            assert plan["train_generator"] >= 2
        else:
            assert "Nothing to be done" in proc.stdout + proc.stderr


def plain_dataset(root: Path, name: str) -> dict:
    """A user's membership dataset in the task's folder layout (not made by a build)."""
    rng = np.random.default_rng(len(name))
    counts = {"generated": 6, "real_used": 3, "real_not_used": 3, "real_unknown": 4}
    for folder, n in counts.items():
        for i in range(n):
            image = rng.integers(0, 256, (32, 32), dtype=np.uint8)
            write_gray_png(root / folder / f"{name}_{folder}_{i}.png", image)
    labels = [f"{name}_real_unknown_{i},{i % 2}" for i in range(4)]
    (root / "test_labels.csv").write_text("id,label\n" + "\n".join(labels) + "\n")
    layout = {folder: f"{folder}/*.png" for folder in counts}
    return {"root": str(root), "membership": {**layout, "test_labels": "test_labels.csv"}}


def test_editing_a_raw_image_reruns_that_datasets_ingest(tmp_path):
    """An edited image reruns its dataset's ingest and what reads it, not the other dataset's.
    (A bare `touch` does not: Snakemake 9 compares the checksums of small inputs.)"""
    config = {
        "datasets": {name: plain_dataset(tmp_path / name, name) for name in ("a", "b")},
        "backbones": {"lbp": {}},
    }
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    work = tmp_path / "work"
    targets = [f"results/{name}/features/full/lbp.h5" for name in ("a", "b")]
    snakemake(work, "--configfile", str(path), "--cores", "2", *targets)
    assert "Nothing to be done" in snakemake(work, "--configfile", str(path), "-n", *targets).stdout
    write_gray_png(tmp_path / "a" / "real_used" / "a_real_used_1.png", np.eye(32, dtype=np.uint8))
    proc = snakemake(work, "--configfile", str(path), "-n", *targets)
    assert planned_jobs(proc.stdout) == {"ingest": 1, "extract_features": 1}
    assert "output: results/a/manifest.tsv" in proc.stdout
    assert "output: results/b/" not in proc.stdout


def test_report_shows_metrics_and_attribution_figures(finished):
    report = finished / "report.html"
    snakemake(finished, "--configfile", str(TEST_CONFIG), "--report", str(report))
    text = report.read_text()
    assert report.stat().st_size > 10_000
    for name in ("metrics.html", "embedding.png", "examples.png", "regions_scores.png", "roc.png"):
        assert name in text
    html = (finished / "results" / "report" / "metrics.html").read_text()
    assert "Robustness, dataset tiny_attribution" in html and "jpeg90 change" in html
    assert "Membership — regions" in html and "F1 train (CV)" in html
    assert "Membership — reconstruction and distances" in html and "attacks/ensemble" in html


def test_lung_region_features_come_from_the_lung_masks(finished):
    from medimprint.io import read_store

    targets = [f"results/tiny_db1/features/{crop}/lbp.h5" for crop in ("full", "lung", "outer")]
    _, masks, attrs = read_store(finished / "results/tiny_db1/masks/classical.h5", ["masks"])
    assert attrs["segmenter"] == "classical"
    assert masks["masks"].any(), "the phantom's lungs were not found"
    full_ids, full, _ = read_store(finished / targets[0], ["features"])
    for target in targets[1:]:
        _, arrays, attrs = read_store(finished / target, ["features"], full_ids)
        assert attrs["crop"] == target.split("/")[3]
        assert arrays["features"].shape == full["features"].shape
        assert not np.allclose(arrays["features"], full["features"])


def test_membership_region_runs_and_submissions(finished):
    config = yaml.safe_load(TEST_CONFIG.read_text())["regions"]
    metrics = pd.read_csv(finished / "results" / "metrics.tsv", sep="\t")
    runs = {
        f"regions/{crop}/{backbone}/{method}/{distance}"
        for crop in config["crops"]
        for backbone in ("lbp", "resnet50")
        for method in config["methods"]
        for distance in ("min", "mean")
    }
    membership = metrics[metrics["subtask"] == "membership"]
    attacks = {
        f"attacks/{attack}/{space}"
        for attack in ATTACKS
        for space in ("lbp", "resnet50", "autoencoder")
        if runs_in(attack, space)  # the image attacks need pixels
    }
    paper_b = {"autoencoder/mean_mse", "autoencoder/ssim"}
    controls = {"controls/labelled_neighbour", "controls/nearest_generated"}
    assert set(membership["run"]) == runs | attacks | paper_b | {"attacks/ensemble"} | controls
    membership = membership[membership["run"].str.startswith("regions/")]
    for metric in ("cv_auc_train", "f1_train", "f1_all_used_test", "auc_test", "k"):
        assert len(membership[membership["metric"] == metric]) == len(runs), metric
    # 2 not-used test images: TPR at 1% (or 10%) FPR would be TPR at zero false positives
    assert membership.loc[membership["metric"] == "tpr_at_10pct_fpr_test", "value"].isna().all()
    chosen_k = membership.loc[membership["metric"] == "k", "value"]
    assert set(chosen_k) <= set(config["k"])
    manifest = pd.read_csv(finished / "results/tiny_db1/manifest.tsv", sep="\t", dtype=str)
    test_ids = names_of_test_images(manifest)
    files = sorted((finished / "results/tiny_db1/submissions").glob("membership_*.csv"))
    # every run, the region run chosen on the training split, the paper's method B runs, the
    # attacks and their ensemble, the controls, and the dataset's answer
    assert len(files) == len(runs) + 1 + len(paper_b) + len(attacks) + 1 + len(controls) + 1
    for path in files:
        lines = path.read_text().splitlines()
        ids = [line.split(",")[0] for line in lines]
        assert sorted(ids) == sorted(test_ids), path.name  # every test image exactly once
        assert {line.split(",")[1] for line in lines} <= {"0", "1"}
    chosen = pd.read_csv(finished / "results/tiny_db1/membership/regions_best.tsv", sep="\t")
    run = chosen["run"].item()
    train_auc = membership[membership["metric"] == "cv_auc_train"].set_index("run")["value"]
    assert chosen["cv_auc_train"].item() == pytest.approx(train_auc.max())
    crop, backbone, method, distance = run.split("/")[1:]
    copied = f"membership_regions_{crop}_{backbone}_{method}_{distance}.csv"
    best = finished / "results/tiny_db1/submissions/membership_regions_best.csv"
    assert best.read_text() == (best.parent / copied).read_text()


def test_membership_answer_beside_the_controls(finished):
    """The dataset's answer names a candidate of one of its runs or the nearest-generated
    baseline, carries both controls and a verdict (withheld, with the reason, on the tiny
    split), and its submission decides every test image."""
    root = finished / "results/tiny_db1/membership"
    answer = pd.read_csv(root / "selected.tsv", sep="\t").iloc[0]
    candidates = pd.concat(
        pd.read_csv(path, sep="\t", dtype={"id": str}) for path in root.glob("**/*candidates.tsv")
    )
    baseline = "controls/nearest_generated"  # a candidate too: the answer's default
    assert answer["run"] in {*candidates["candidate"], baseline}
    assert answer["candidates"] == candidates["candidate"].nunique() + 1
    # 2 labelled blocks per class: no choice among candidates, no nested figure, no verdict
    assert answer["groups"] == "file" and (answer["used_groups"], answer["not_used_groups"]) == (
        2,
        2,
    )
    assert answer["run"] == baseline and answer["verdict"] == "withheld"
    assert "fewer than 5" in answer["withheld"] and np.isnan(answer["auc_nested"])
    for column in ("labelled_neighbour_auc_test", "nearest_generated_auc_test", "auc_test"):
        assert 0 <= answer[column] <= 1, column
    assert answer["auc_test"] == answer["nearest_generated_auc_test"]
    check = pd.read_csv(root / "groups_check.tsv", sep="\t")
    assert check["level"].tolist() == ["given"] and check["chosen"].tolist() == [True]
    groups = pd.read_csv(root / "groups.tsv", sep="\t", dtype=str)
    assert answer["n_groups"] == groups["group"].nunique()
    submission = (finished / "results/tiny_db1/submissions/membership_selected.csv").read_text()
    manifest = pd.read_csv(finished / "results/tiny_db1/manifest.tsv", sep="\t", dtype=str)
    test_ids = names_of_test_images(manifest)
    assert sorted(line.split(",")[0] for line in submission.splitlines()) == sorted(test_ids)
    assert (root / "selected_roc.png").stat().st_size > 0
    html = (finished / "results/report/metrics.html").read_text()
    assert html.index("the answer per dataset") < html.index("Membership — regions")


def test_results_page_states_what_the_run_wrote_and_catches_a_changed_figure(finished):
    """docs/RESULTS.md's section of a config is written from the run's own answer files, and
    the CI check fails once a documented figure no longer matches them."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    section = config_section("config/test.yaml", config, finished / "results", root=REPO)
    membership = pd.read_csv(finished / "results/tiny_db1/membership/selected.tsv", sep="\t")
    attribution = pd.read_csv(
        finished / "results/tiny_attribution/attribution/selected.tsv", sep="\t"
    )
    row = membership.iloc[0]
    stated = f"{row['auc_test']:.3f} [{row['auc_test_low']:.3f}, {row['auc_test_high']:.3f}]"
    assert f"| AUC test | {stated} |" in section
    assert f"| chosen run | {attribution['run'].iloc[0]} |" in section
    page = updated_page("", {"config/test.yaml": section})
    assert stale_sections(page, {"config/test.yaml": section}) == {}
    changed = page.replace(f"| AUC test | {stated} |", "| AUC test | 0.123 [0.1, 0.2] |")
    assert list(stale_sections(changed, {"config/test.yaml": section})) == ["config/test.yaml"]


def test_without_a_groups_file_groups_are_estimated_and_checked(finished, tmp_path):
    """The task's data has no groups file: the groups are estimated from the slices, checked by
    the labelled-neighbour control (every level tried is listed, one chosen), and no candidate
    that consults labelled images can be the answer."""
    import shutil

    workdir = tmp_path / "estimated"
    shutil.copytree(finished, workdir, symlinks=True)
    config = yaml.safe_load(TEST_CONFIG.read_text())
    del config["datasets"]["tiny_db1"]["membership"]["groups"]
    path = tmp_path / "no-groups.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    target = "results/tiny_db1/membership/selected.tsv"  # relative to the workdir
    snakemake(workdir, "--configfile", str(path), "--cores", "2", target)
    root = workdir / "results/tiny_db1/membership"
    groups = pd.read_csv(root / "groups.tsv", sep="\t", dtype=str)
    assert set(groups["source"]) == {"estimated"} and groups["group"].str.match(r"seg\d{4}").all()
    check = pd.read_csv(root / "groups_check.tsv", sep="\t")
    assert check["level"].tolist() == list(range(len(check))) and check["chosen"].sum() == 1
    assert check["groups"].is_monotonic_decreasing
    assert check.loc[check["chosen"], "groups"].item() == groups["group"].nunique()
    answer = pd.read_csv(root / "selected.tsv", sep="\t").iloc[0]
    assert answer["groups"] == "estimated"
    assert not answer["run"].startswith(("attacks/gan_leaks", "attacks/domias", "autoencoder/"))
    assert (answer["verdict"] == "withheld") == isinstance(answer["withheld"], str)


def test_unet_segmenter_when_configured(finished, tmp_path):
    """`segmentation.method: unet` trains the GPU-tagged UNet on the classical masks, segments
    every image with it, and the lung crops then come from its masks."""
    import torch

    from medimprint.io import read_store

    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["segmentation"] = {"method": "unet", "epochs": 2, "batch_size": 8}
    path = tmp_path / "unet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # key order is part of params
    target = "results/tiny_db1/masks/unet.h5"
    proc = snakemake(finished, "--configfile", str(path), "--cores", "2", target)
    assert "rule train_lung_unet" in proc.stdout + proc.stderr
    ids, masks, attrs = read_store(finished / target, ["masks"])
    manifest = pd.read_csv(finished / "results/tiny_db1/manifest.tsv", sep="\t", dtype=str)
    assert ids == manifest["id"].tolist() and attrs["segmenter"] == "unet"
    assert masks["masks"].shape == (len(ids), 32, 32) and masks["masks"].dtype == np.uint8
    checkpoint = torch.load(
        finished / "results/tiny_db1/segmenter/unet.pt", map_location="cpu", weights_only=True
    )
    assert checkpoint["meta"]["trained_on"] == "tiny_db1"
    dry = snakemake(finished, "--configfile", str(path), "-n").stdout
    plan = planned_jobs(dry)
    assert plan["extract_features"] == 4, dry  # lung and outer crops of both backbones
    assert "train_lung_unet" not in plan and "unet_masks" not in plan


def test_robustness_store_holds_the_perturbed_test_images(finished):
    from medimprint.io import read_store

    ids, _, attrs = read_store(
        finished / "results/tiny_attribution/features/full/jpeg90/lbp.h5", ["features"]
    )
    manifest = pd.read_csv(
        finished / "results" / "tiny_attribution" / "manifest.tsv", sep="\t", dtype=str
    )
    assert sorted(ids) == sorted(manifest.loc[manifest["split"] == "test", "id"])
    assert attrs["perturbation"] == "jpeg90"


def test_missing_folder_fails_cleanly(tmp_path):
    config = {
        "datasets": {
            "mine": {
                "root": str(tmp_path / "no such folder"),
                "attribution": {
                    "generators": {"a": "a/*.png", "b": "b/*.png"},
                    "test": "test/*.png",
                    "test_generators": 3,
                },
            }
        },
        "backbones": {"lbp": {}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "--configfile", str(path), "--cores", "1", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "no such folder" in out and "medimprint: error" in out
    assert "Traceback" not in out
    assert not (tmp_path / "results" / "mine" / "manifest.tsv").exists()


def test_offline_imagenet_download_fails_cleanly(tmp_path, monkeypatch):
    """Without internet (a dead proxy here) the weights job stops with one clear message."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["backbones"] = {"resnet50": {"weights": "imagenet"}}
    config["attribution"]["combine"] = []
    config["attacks"] = {}  # every backbone
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    target = "results/weights/resnet50.json"
    proc = snakemake(tmp_path, "--configfile", str(path), "--cores", "1", target, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "medimprint: error: backbone 'resnet50'" in out and "weights: random" in out
    assert "Traceback" not in out
    assert not (tmp_path / target).exists()


def luna16_workdir(tmp_path: Path, luna16: Path) -> Path:
    """A workdir whose ``../shared`` is the real shared folder, as in the repository."""
    (tmp_path / "shared").symlink_to(luna16.parents[1])
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir


def test_luna16_config_plans_the_real_benchmark(tmp_path, luna16):
    workdir = luna16_workdir(tmp_path, luna16)
    proc = snakemake(workdir, "--configfile", str(REPO / "config" / "luna16.yaml"), "-n")
    for rule in (
        "real_slices",
        "split_real",
        "train_generator",
        "write_layout",
        "extract_features",
    ):
        assert rule in proc.stdout
    # db1/upconv_gan, db2 x 4 families, the interleaved build's db1/upconv_gan
    assert proc.stdout.count("rule train_generator") == 6
    assert "luna16_mixed_db1" in proc.stdout


def test_luna16_benchmark_builds_at_small_size(tmp_path, luna16):
    """The real-CT build end to end with small sizes: block split, training, task layout."""
    config = yaml.safe_load((REPO / "config" / "luna16.yaml").read_text())
    del config["builds"]["luna16_mixed"], config["datasets"]["luna16_mixed_db1"]
    build = config["builds"]["luna16"]
    build["image_size"] = 32
    build["membership"]["db1"].update(used=14, not_used=14, generated=12)
    build["membership"]["db2"].update(used=28, not_used=28, generated=12)
    build["attribution"].update(train_per_generator=6, test_per_generator=5)
    build["generators"] = {f: {"epochs": 1} for f in ("vae", "dcgan", "upconv_gan")}
    config["backbones"] = {"lbp": {}}
    config["attribution"].update(backbones=["lbp"], combine=[], robustness=[])
    config["regions"].update(backbones=["lbp"], crops=["full", "outer"], k=[2, 4])
    config["attacks"] = {"spaces": ["lbp"], "methods": ["gan_leaks"]}
    config["autoencoder"] = {"epochs": 2}
    config["bootstrap"] = 20
    workdir = luna16_workdir(tmp_path, luna16)
    path = tmp_path / "luna16-small.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake(workdir, "--configfile", str(path), "--cores", "2")
    data = workdir / "results" / "builds" / "luna16" / "data"
    splits = pd.read_csv(workdir / "results" / "builds" / "luna16" / "splits.tsv", sep="\t")
    assert splits["id"].str.startswith("patient").all()
    db1 = splits[splits["database"] == "db1"]
    train = db1[db1["part"] == "train"]
    # test parts are drawn in whole blocks: about half of each pool of 14, no block split
    assert 4 <= (train["status"] == "used").sum() <= 10
    assert not set(train["group"]) & set(db1.loc[db1["part"] == "test", "group"])
    used = len(list((data / "membership" / "db1" / "real_used").glob("*.png")))
    assert used == (train["status"] == "used").sum()
    assert len(list((data / "attribution" / "test").glob("*.png"))) == 20
    metrics = pd.read_csv(workdir / "results" / "metrics.tsv", sep="\t")
    assert {"ari_test", "f1_test", "auc_test"} <= set(metrics["metric"])
    quality = pd.read_csv(workdir / "results/luna16_db1/masks/quality.tsv", sep="\t")
    # the manifest's independent lung boxes, rescaled to 32 px, against the classical masks
    # real training images keep their slice names (test images are anonymised)
    assert quality["reference_n"].item() == len(train)
    assert quality["reference_median_box_iou"].item() > 0.8

"""Honest membership selection on simulated worlds where the truth is known: a null generator
(its images independent of the used pool) over block-correlated slices, and a memorising one
(noisy copies of the used images). Feature arrays only, so 20 seeds run in seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from audits import attack_candidates, noise_candidates

from medimprint.data.groups import pattern_groups, read_group_file
from medimprint.data.views import MembershipView, real_test_ids, real_test_labels, training_labels
from medimprint.errors import InputError
from medimprint.evaluation import bootstrap_interval
from medimprint.membership.attacks import gan_leaks_scores
from medimprint.membership.controls import run_controls
from medimprint.membership.decisions import decide
from medimprint.membership.folds import cv_auc, grouped_folds
from medimprint.membership.metrics import auc, tpr_at_fpr
from medimprint.membership.runs import run_attack
from medimprint.membership.selection import (
    BASELINE,
    LEAKAGE_SHOWN,
    WITHHELD,
    candidate_table,
    choose,
    scores_candidate,
    select,
    summary,
    verdict,
)

N_GROUPS, BLOCK, DIM = 24, 4, 12


def _world(
    seed: int, *, memorise: bool, n_groups: int = N_GROUPS
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """A membership dataset as (manifest, features by id, groups by id): ``n_groups``
    blocks of 4 near-duplicate slices, half used, half not used, half of each class's blocks in
    the test split; 300 generated images, independent of the data (null) or noisy copies of
    used slices."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, DIM))
    block = np.repeat(np.arange(n_groups), BLOCK)
    real = centres[block] + 0.15 * rng.normal(size=(len(block), DIM))
    used = rng.permutation(np.r_[np.ones(n_groups // 2), np.zeros(n_groups // 2)]).astype(int)
    test = np.zeros(n_groups, dtype=bool)
    for cls in (0, 1):
        test[rng.permutation(np.flatnonzero(used == cls))[: n_groups // 4]] = True
    if memorise:
        pool = real[used[block] == 1]
        generated = pool[rng.integers(0, len(pool), 300)] + 0.05 * rng.normal(size=(300, DIM))
    else:
        generated = rng.normal(size=(300, DIM)) * np.sqrt(1 + 0.15**2)
    ids = [f"s{i:03d}" for i in range(len(block))]
    gen_ids = [f"g{i:03d}" for i in range(len(generated))]
    manifest = pd.DataFrame(
        {
            "id": ids + gen_ids,
            "path": "",
            "role": ["real"] * len(ids) + ["generated"] * len(gen_ids),
            "split": ["test" if test[b] else "train" for b in block] + [""] * len(gen_ids),
            "label": [str(used[b]) for b in block] + [""] * len(gen_ids),
        }
    )
    features = pd.DataFrame(np.vstack([real, generated]), index=ids + gen_ids)
    groups = pd.Series([f"b{b:02d}" for b in block], index=ids)
    return manifest, features, groups


def _audit(seed: int, *, memorise: bool, noise: int = 30, n_groups: int = N_GROUPS):
    """Every attack in the feature space plus pure-noise candidates (to tempt the selection),
    the controls (the nearest-generated one also a candidate: the default answer), and the
    selection's one-row summary."""
    manifest, features, groups = _world(seed, memorise=memorise, n_groups=n_groups)
    tables = attack_candidates(manifest, features, groups, ("gan_leaks", "monte_carlo", "domias"))
    train, test = training_labels(manifest), real_test_ids(manifest)
    rng = np.random.default_rng(1000 + seed)
    tables += noise_candidates(rng, train, test, noise)
    controls = run_controls(manifest, features, groups, n_boot=200, seed=seed)
    tables.append(scores_candidate(BASELINE, controls["nearest_generated"].scores))
    candidates = pd.concat(tables, ignore_index=True)
    truth = real_test_labels(manifest)
    chosen = select(candidates, MembershipView(train, test, truth, groups), n_boot=200, seed=seed)
    group_table = pd.DataFrame({"id": groups.index, "group": groups.to_numpy(), "source": "file"})
    row = summary(
        "sim", chosen, {name: run.metrics for name, run in controls.items()}, group_table
    ).iloc[0]
    return chosen, controls, row


@pytest.fixture(scope="module")
def null_audits():
    return [_audit(seed, memorise=False) for seed in range(20)]


def test_null_generator_intervals_cover_chance(null_audits):
    covered = [row["auc_test_low"] <= 0.5 <= row["auc_test_high"] for _, _, row in null_audits]
    assert sum(covered) >= 17, covered


def test_null_generator_control_at_chance_and_nothing_shown(null_audits):
    control = [row["labelled_neighbour_auc_test"] for _, _, row in null_audits]
    assert abs(np.mean(control) - 0.5) < 0.05
    assert sum(row["verdict"] == LEAKAGE_SHOWN for _, _, row in null_audits) == 0


def test_null_generator_nested_estimate_near_chance(null_audits):
    nested = np.array([row["auc_nested"] for _, _, row in null_audits])
    covered = [row["auc_nested_low"] <= 0.5 <= row["auc_nested_high"] for _, _, row in null_audits]
    assert abs(nested.mean() - 0.5) < 0.05
    assert sum(covered) >= 17, covered
    # pure noise beats the baseline on data the choice did not see about as often as the
    # guard's one-sided 5% allows (1 in 20 expected)
    assert sum(row["run"].startswith("noise/") for _, _, row in null_audits) <= 2


def test_best_of_many_flatters_itself_and_the_baseline_guard_holds():
    """On pure-noise candidates the best cross-validated AUC of 40 is far above chance on the
    rows it was picked on; the guard keeps the baseline but about as often as its one-sided
    5% allows; a real signal does beat it."""
    labels = np.repeat([0, 1], 40)
    groups = np.repeat(np.arange(20), 4)
    names = [BASELINE, *(f"noise/{j}" for j in range(40))]
    flattered, replaced = [], 0
    for seed in range(20):
        matrix = np.random.default_rng(seed).normal(size=(80, 41))
        unguarded = choose(matrix, names, labels, groups, seed=seed)
        flattered.append(unguarded.candidate != BASELINE and unguarded.cv_auc > 0.6)
        guarded = choose(matrix, names, labels, groups, baseline=BASELINE, seed=seed)
        replaced += guarded.candidate != BASELINE
    assert all(flattered) and replaced <= 2
    matrix[:, 7] = labels + np.random.default_rng(0).normal(scale=0.5, size=80)
    assert choose(matrix, names, labels, groups, baseline=BASELINE).candidate == "noise/6"


def test_memorising_generator_detected_beyond_control():
    for seed in range(3):  # 48 blocks: 12 test blocks per class, so intervals can separate
        chosen, _, row = _audit(seed, memorise=True, n_groups=48)
        assert not chosen.choice.candidate.startswith("noise/")
        assert row["auc_test"] > 0.9 and row["auc_nested"] > 0.9
        assert row["kappa_test"] > 0.5 and row["kappa_nested"] > 0.5
        assert row["auc_test_low"] > row["labelled_neighbour_auc_test_high"]
        assert row["verdict"] == LEAKAGE_SHOWN


def _choices(manifest: pd.DataFrame, features: pd.DataFrame, groups: pd.Series) -> dict:
    """Every choice the membership methods make on one dataset: k of the region runs, epsilon,
    ensemble members, method B's decisions, the answer and every decision it submits."""
    from medimprint.membership.regions import RegionSetup, run_regions
    from medimprint.membership.runs import run_ensemble, run_reconstruction

    ids, x = features.index.tolist(), features.to_numpy()
    out, tables, scores = {}, [], {}
    for attack in ("gan_leaks", "monte_carlo", "patch_leaks"):
        space = "pixels" if attack == "patch_leaks" else "x"
        data = np.tile(x, (1, 6))[:, :64] if attack == "patch_leaks" else x  # 8 x 8 images
        run, _ = run_attack(manifest, ids, data, attack, space=space, groups=groups, n_boot=0)
        out[attack] = (run.metrics.get("epsilon", (0,))[0], run.scores["used"].tolist())
        tables.append(run.candidates)
        scores[attack] = run.scores
    regions = run_regions(
        manifest, ids, x, RegionSetup(method="kmeans", ks=(2, 4, 8)), groups=groups, n_boot=0
    )
    for distance, run in regions.items():
        out[f"regions/{distance}"] = (run.k, run.scores["used"].tolist())
        tables.append(run.candidates(f"regions/{distance}"))
    maps = x.reshape(len(x), 3, 4)
    b = run_reconstruction(manifest, ids, maps, "mean_mse", groups=groups, n_boot=0)
    out["method_b"] = b.scores["used"].tolist()
    ensemble, subsets = run_ensemble(manifest, scores, groups=groups, n_boot=0)
    out["ensemble"] = (subsets.to_dict("list"), ensemble.scores["used"].tolist())
    candidates = pd.concat(tables, ignore_index=True)
    chosen = select(candidates, MembershipView.of(manifest, groups), n_boot=0)
    out["answer"] = (chosen.choice, chosen.scores["used"].tolist(), chosen.nested.chosen)
    out["has_test_metrics"] = "auc_test" in chosen.metrics
    return out


def test_test_labels_change_no_choice():
    """Shuffled or blanked test labels change no choice of any membership method."""
    manifest, features, groups = _world(3, memorise=True)
    test_rows = (manifest["role"] == "real") & (manifest["split"] == "test")
    shuffled, blank = manifest.copy(), manifest.copy()
    shuffled.loc[test_rows, "label"] = np.random.default_rng(0).permutation(
        manifest.loc[test_rows, "label"].to_numpy()
    )
    blank.loc[test_rows, "label"] = ""
    base = _choices(manifest, features, groups)
    assert base.pop("has_test_metrics")
    for other in (shuffled, blank):
        again = _choices(other, features, groups)
        again.pop("has_test_metrics")
        assert again == base


def test_choice_ranks_by_auc_not_by_calling_everything_used():
    """A candidate whose F1 threshold calls every image used (F1 0.667 on a 50/50 split) loses
    to one that ranks images well."""
    labels = np.repeat([1, 0], 10)
    informative = np.r_[np.linspace(1, 2, 10), np.linspace(0, 1.05, 10)]
    flat = np.zeros(20)
    choice = choose(np.c_[flat, informative], ["flat", "informative"], labels)
    assert choice.candidate == "informative"
    assert np.isfinite(choice.threshold)


def test_grouped_folds_keep_groups_whole():
    labels = np.repeat([1, 0], 20)
    groups = np.repeat(np.arange(10), 4)
    for fit, held in grouped_folds(labels, groups, folds=5):
        assert not set(groups[fit]) & set(groups[held])
        assert set(labels[held]) == {0, 1}


def test_cluster_bootstrap_wider_than_image_bootstrap_on_correlated_data():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 8)
    labels = np.repeat(rng.permutation(np.repeat([0, 1], 6)), 8)
    scores = np.repeat(rng.normal(size=12), 8) + 0.01 * rng.normal(size=96)
    _, low_i, high_i = bootstrap_interval(auc, labels, scores, n_boot=300)
    _, low_g, high_g = bootstrap_interval(auc, labels, scores, n_boot=300, groups=groups)
    assert high_g - low_g > 1.5 * (high_i - low_i)


def test_tpr_at_low_fpr_needs_enough_negatives():
    labels = np.r_[np.ones(50), np.zeros(50)].astype(int)
    scores = np.r_[np.ones(50), np.zeros(50)]
    assert np.isnan(tpr_at_fpr(labels, scores, 0.01))  # 50 negatives < 1 / 0.01
    assert tpr_at_fpr(labels, scores, 0.1) == 1.0


def test_leave_group_out_reference_hides_blockmates():
    """A not-used labelled slice found by its own block in the reference looks very not-used;
    leaving the whole block out removes that tell."""
    manifest, features, groups = _world(0, memorise=False)
    train = training_labels(manifest)
    x = features.loc[train["id"]].to_numpy()
    gen = features.loc[manifest.loc[manifest["role"] == "generated", "id"]].to_numpy()
    labels = train["label"].to_numpy()
    ref, ids = x[labels == 0], train["id"].to_numpy()
    by_id = gan_leaks_scores(x, gen, ref, ids, ids[labels == 0])
    keys = groups.loc[ids].to_numpy()
    by_group = gan_leaks_scores(x, gen, ref, keys, keys[labels == 0])
    assert auc(labels, by_id) > 0.9  # blockmates: used images have none in the reference
    assert abs(auc(labels, by_group) - 0.5) < 0.25


def test_method_b_scores_leave_group_out():
    from medimprint.membership.error_maps import mean_mse_scores

    rng = np.random.default_rng(0)
    labels = np.repeat([1, 1, 0, 0], 3)
    groups = np.repeat(["a", "b", "c", "d"], 3)
    maps = rng.random((12, 8, 8))
    scores = mean_mse_scores(maps, labels, groups=groups)
    e = maps.reshape(12, -1).mean(axis=1)
    i = 0  # group a: used centroid from group b only, not-used from c and d
    expected = abs(e[i] - e[6:].mean()) - abs(e[i] - e[3:6].mean())
    assert scores[i] == pytest.approx(expected)


def test_group_files_name_images_by_path_when_role_folders_repeat_names(tmp_path):
    """The task's folders repeat file names: a row gives the path under the root, or the bare
    name where only one role folder has it; an ambiguous bare name is refused."""
    from medimprint.data.groups import image_aliases
    from medimprint.errors import InputError

    real = pd.DataFrame(
        {
            "id": ["real_used/a", "real_unknown/a", "real_unknown/b"],
            "path": [str(tmp_path / f) for f in ("used/a.png", "unknown/a.png", "unknown/b.png")],
        }
    )
    aliases = image_aliases(real, tmp_path)
    path = tmp_path / "groups.csv"
    path.write_text("file,group\nused/a.png,p1\nunknown/a.png,p2\nb.png,p2\n")
    assert read_group_file(path, real["id"], aliases).tolist() == ["p1", "p2", "p2"]
    path.write_text("file,group\na.png,p1\nb.png,p2\n")
    with pytest.raises(InputError, match=r"more than one role folder.*path under"):
        read_group_file(path, real["id"], aliases)


def test_groups_from_file_and_pattern(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("id,group\na.png,p1\nb,p1\nc,p2\n")
    assert read_group_file(path, ["a", "b", "c"]).tolist() == ["p1", "p1", "p2"]
    path.write_text("File,Group\na.png,p1\nb,p1\nc,p2\n")  # headers as people write them
    assert read_group_file(path, ["a", "b", "c"]).tolist() == ["p1", "p1", "p2"]
    from medimprint.errors import InputError

    with pytest.raises(InputError, match="no group for 1 real images"):
        read_group_file(path, ["a", "b", "c", "d"])
    assert pattern_groups(r"^(P\d+)_", ["P1_01", "P1_02", "P2_01"]).tolist() == ["P1", "P1", "P2"]
    assert pattern_groups(r"^(P\d+)_", ["real_used/P1_01"]).tolist() == ["P1"]  # on the name
    with pytest.raises(InputError, match="does not match"):
        pattern_groups(r"^(P\d+)_", ["Q1"])


def test_decide_with_groups_reports_cv_auc_and_all_used_f1():
    manifest, features, groups = _world(1, memorise=True)
    train = training_labels(manifest)
    scores = -np.linalg.norm(features.loc[train["id"]].to_numpy(), axis=1)
    run = decide(MembershipView(train, [], groups=groups), scores, np.empty(0), n_boot=10)
    assert run.metrics["f1_all_used_train"][0] == pytest.approx(2 * 0.5 / 1.5)
    folds = cv_auc(scores, train["label"].to_numpy(), groups=groups.loc[train["id"]].to_numpy())
    assert run.metrics["cv_auc_train"][0] == pytest.approx(folds[0])


def test_summary_flags_test_images_that_share_a_group_with_labelled_ones():
    from medimprint.report.tables import selected_notes, selected_table

    chosen, controls, row = _audit(0, memorise=False, noise=0)
    assert row["test_with_labelled_group"] == 0.0  # the world draws test blocks whole
    scores = chosen.scores.copy()
    groups = pd.DataFrame({"id": scores["id"], "group": "one", "source": "file"})
    metrics = {name: run.metrics for name, run in controls.items()}
    shared = summary("image_split", chosen, metrics, groups).iloc[0]
    assert shared["test_with_labelled_group"] == 1.0
    table = pd.DataFrame([row, shared])
    assert any("image_split (100%)" in note for note in selected_notes(table))
    assert selected_table(table).loc["sim", "verdict"] == row["verdict"]


def test_a_class_in_one_group_gives_no_cross_validated_figures_but_a_run():
    """With one labelled group per class, no grouped fold can hold a class out: the run still
    decides the test images and its cross-validated figures are NaN; the answer is the
    baseline, with no nested estimate and no verdict, and says why."""
    manifest, features, _ = _world(0, memorise=True)
    train = training_labels(manifest)
    real = manifest[manifest["role"] == "real"]
    groups = pd.Series(np.where(real["label"] == "1", "used", "not_used"), index=real["id"])
    scores = -np.linalg.norm(features.loc[train["id"]].to_numpy(), axis=1)
    test = real_test_ids(manifest)
    test_scores = -np.linalg.norm(features.loc[test].to_numpy(), axis=1)
    with pytest.warns(UserWarning, match="no cross-validated training decisions"):
        run = decide(MembershipView(train, test, groups=groups), scores, test_scores, n_boot=10)
    assert np.isnan(run.metrics["f1_train"][0]) and np.isnan(run.metrics["cv_auc_train"][0])
    assert not np.isnan(run.metrics["auc_train"][0])
    table = pd.concat(
        [
            candidate_table("a", train["id"], scores, test, test_scores),
            candidate_table(BASELINE, train["id"], -scores, test, -test_scores),
        ]
    )
    chosen = select(table, MembershipView(train, test, groups=groups), n_boot=10)
    assert chosen.nested is None and "auc_nested" not in chosen.metrics
    assert chosen.choice.candidate == BASELINE  # no choice among candidates
    assert "1 labelled groups" in chosen.withheld and chosen.groups_per_class == (1, 1)
    group_table = pd.DataFrame({"id": groups.index, "group": groups.to_numpy(), "source": "file"})
    row = summary("one_group", chosen, {}, group_table).iloc[0]
    assert row["verdict"] == WITHHELD and np.isnan(row["auc_nested"])
    # a perfect-looking interval is no verdict when figures are withheld
    assert verdict((0.99, 0.98, 1.0), (0.5, 0.4, 0.6), chosen.withheld) == WITHHELD
    assert verdict((0.99, 0.98, 1.0), (0.5, 0.4, 0.6)) == LEAKAGE_SHOWN
    assert verdict((0.45, 0.30, 0.49), (0.2, 0.1, 0.25)) != LEAKAGE_SHOWN  # below chance
    tiny = train.iloc[[0, 1, -1]]  # one not-used image: the data must change, not the method
    with pytest.raises(InputError, match="at least 2 used and 2 not-used"):
        decide(MembershipView(tiny, []), scores[[0, 1, -1]], np.empty(0), n_boot=0)

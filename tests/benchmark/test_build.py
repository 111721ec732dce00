"""Tests for building a benchmark layout from real (or phantom) slices."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import medimprint.benchmark.layout as layout_mod
from medimprint.benchmark.layout import generator_plan, training_rows, write_layout
from medimprint.benchmark.slices import load_slices
from medimprint.benchmark.split import split_real
from medimprint.errors import InputError
from medimprint.io import read_gray_png, write_gray_png

DBS = {
    "db1": {"used": 12, "not_used": 12, "test_fraction": 0.5},
    "db2": {"used": 20, "not_used": 20, "test_fraction": 0.25},
}


def _meta(patients: int = 8, slices: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"id": f"p{p}_z{z:03d}", "patient": f"p{p}", "z": z}
            for p in range(patients)
            for z in range(slices)
        ]
    )


# --------------------------------------------------------------------------- load_slices


def test_load_slices_reads_patient_and_z_from_manifest(luna16: Path):
    images, meta = load_slices(
        str(luna16 / "slices" / "patient2_z04*.png"), str(luna16 / "manifest.csv"), 32
    )
    assert images.shape == (10, 32, 32) and images.dtype == np.uint8
    assert meta["id"].tolist() == [f"patient2_z{z:03d}" for z in range(40, 50)]
    assert set(meta["patient"]) == {"patient2"}
    assert meta["z"].tolist() == list(range(40, 50))


def test_load_slices_drops_low_quality_rows(luna16: Path):
    manifest = pd.read_csv(luna16 / "manifest.csv")
    first = manifest[manifest["file"].str.startswith("slices/patient1_z00")]
    n_low = int((first["slice_quality"] == "low").sum())
    assert n_low > 0
    pattern = str(luna16 / "slices" / "patient1_z00*.png")
    _, all_meta = load_slices(pattern, str(luna16 / "manifest.csv"), 32)
    _, kept = load_slices(pattern, str(luna16 / "manifest.csv"), 32, keep_low_quality=False)
    assert len(all_meta) == 10 and len(kept) == 10 - n_low


def test_load_slices_with_own_manifest_relative_paths(luna16: Path, tmp_path: Path):
    files = sorted((luna16 / "slices").glob("patient3_z10*.png"))[:3]
    rows = [
        {"file": os.path.relpath(f, tmp_path), "patient": "someone", "z_index": 7 - i}
        for i, f in enumerate(files)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    pattern = str(luna16 / "slices" / "patient3_z10[0-2].png")
    images, meta = load_slices(pattern, str(tmp_path / "manifest.csv"), 256)
    assert meta["z"].tolist() == [5, 6, 7]  # sorted by z
    assert meta["id"].tolist() == [f.stem for f in reversed(files)]
    np.testing.assert_array_equal(images[0], read_gray_png(files[2]))  # 256 px: not resized


def test_load_slices_without_manifest(tmp_path):
    for name in ("a_b_2", "a_b_10", "a_b_1", "c_3"):
        write_gray_png(tmp_path / f"{name}.png", np.full((20, 20), 7, np.uint8))
    images, meta = load_slices(str(tmp_path / "*.png"), None, 16)
    assert images.shape == (4, 16, 16)
    assert meta.to_dict("list") == {
        "id": ["a_b_1", "a_b_2", "a_b_10", "c_3"],
        "patient": ["a_b", "a_b", "a_b", "c"],
        "z": [0, 1, 2, 0],
    }


def test_load_slices_manifest_without_z_index_ranks_files_per_patient(tmp_path):
    """One or a few unrelated slices per patient (TCGA-like): z is the rank within the patient."""
    for name in ("s_10", "s_2", "s_3", "s_7"):
        write_gray_png(tmp_path / f"{name}.png", np.full((8, 8), 9, np.uint8))
    (tmp_path / "m.csv").write_text(
        "file,patient,age\ns_10.png,B,60\ns_2.png,A,70\ns_3.png,B,61\ns_7.png,A,71\n"
    )
    _, meta = load_slices(str(tmp_path / "*.png"), str(tmp_path / "m.csv"), 8)
    assert meta.to_dict("list") == {
        "id": ["s_2", "s_7", "s_3", "s_10"],
        "patient": ["A", "A", "B", "B"],
        "z": [0, 1, 0, 1],
    }
    (tmp_path / "m.csv").write_text("file,patient\ns_10.png,B\ns_2.png,\ns_3.png,B\ns_7.png,A\n")
    with pytest.raises(InputError, match=r"1 rows have no patient.*s_2\.png"):
        load_slices(str(tmp_path / "*.png"), str(tmp_path / "m.csv"), 8)
    (tmp_path / "m.csv").write_text("file,z_index\ns_10.png,1\n")
    with pytest.raises(InputError, match=r"missing columns \['patient'\]"):
        load_slices(str(tmp_path / "*.png"), str(tmp_path / "m.csv"), 8)


def test_load_slices_reads_the_tcga_manifest(tcga: Path):
    """config/tcga.yaml's slices: 94 slices of 54 patients, no z_index column."""
    images, meta = load_slices(str(tcga / "slices" / "*.png"), str(tcga / "manifest.csv"), 32)
    assert images.shape == (94, 32, 32) and images.dtype == np.uint8
    assert meta["id"].is_unique and meta["patient"].nunique() == 54
    assert meta["patient"].str.startswith("TCGA-").all()
    ranks = meta.groupby("patient")["z"].agg(lambda z: sorted(z) == list(range(len(z))))
    assert ranks.all()
    splits = split_real(
        meta,
        {"db1": {"used": 40, "not_used": 40, "test_fraction": 0.5}},
        by="patient",
        block_size=16,
        block_gap=2,
        seed=0,
    )
    assert len(splits) == 80 and set(splits["group"]) <= set(meta["patient"])
    assert (splits.groupby("group")["part"].nunique() == 1).all()


def test_load_slices_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_slices(str(tmp_path / "nope" / "*.png"), None, 16)
    with pytest.raises(InputError, match="no files match"):
        load_slices(str(tmp_path / "*.png"), None, 16)
    write_gray_png(tmp_path / "x_1.png", np.zeros((16, 16), np.uint8))
    write_gray_png(tmp_path / "x_2.png", np.zeros((16, 16), np.uint8))
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,patient,z_index\nx_1.png,x,0\ngone_9.png,x,1\n")
    with pytest.raises(InputError, match=r"gone_9\.png"):
        load_slices(str(tmp_path / "*.png"), str(manifest), 16)
    manifest.write_text("file,patient,z_index\nx_1.png,x,0\n")
    with pytest.raises(InputError, match=r"x_2\.png"):
        load_slices(str(tmp_path / "*.png"), str(manifest), 16)
    with pytest.raises(InputError, match="not found"):
        load_slices(str(tmp_path / "*.png"), str(tmp_path / "missing.csv"), 16)


# --------------------------------------------------------------------------- split_real


@pytest.mark.parametrize("by", ["patient", "block"])
def test_split_pools_exact_disjoint_and_grouped(by):
    meta = _meta(patients=12 if by == "patient" else 4)
    splits = split_real(meta, DBS, by=by, block_size=8, block_gap=2, seed=0, test_by="image")
    assert list(splits.columns) == ["id", "database", "status", "part", "group"]
    assert splits["id"].is_unique
    for db, cfg in DBS.items():
        for status in ("used", "not_used"):
            pool = splits[(splits["database"] == db) & (splits["status"] == status)]
            assert len(pool) == cfg[status]
            n_test = int(np.floor(cfg[status] * cfg["test_fraction"] + 0.5))
            assert (pool["part"] == "test").sum() == n_test
    merged = splits.merge(meta, on="id")
    merged["pool"] = merged["database"] + "/" + merged["status"]
    expected = merged["patient"] + (
        "" if by == "patient" else "_b" + (merged["z"] // 8).map("{:02d}".format)
    )
    assert merged["group"].tolist() == expected.tolist()  # p3 or p3_b01: readable, stable
    assert (merged.groupby("group")["pool"].nunique() == 1).all()


def test_split_block_gap_respected():
    meta = _meta(patients=3, slices=60)
    gap = 3
    splits = split_real(meta, DBS, by="block", block_size=10, block_gap=gap, seed=4)
    assert splits["group"].str.fullmatch(r"p[0-2]_b0[0-5]").all()
    merged = splits.merge(meta, on="id")
    assert (merged["z"] % 10 < 10 - gap).all()  # the last slices of each block are never used
    pool = (merged["database"] + "/" + merged["status"]).to_numpy()
    z, patient = merged["z"].to_numpy(), merged["patient"].to_numpy()
    near = (np.abs(z[:, None] - z[None, :]) < gap + 1) & (patient[:, None] == patient[None, :])
    assert not (near & (pool[:, None] != pool[None, :])).any()


def test_split_test_part_by_group_shares_no_block_with_training():
    meta = _meta(patients=4)
    splits = split_real(meta, DBS, by="block", block_size=4, block_gap=1, seed=3, test_by="group")
    merged = splits.merge(meta, on="id")
    merged["block"] = merged["patient"] + "/" + (merged["z"] // 4).astype(str)
    assert (merged.groupby("block")["part"].nunique() == 1).all()  # a block is train or test
    for (db, status), pool in merged.groupby(["database", "status"]):
        wanted = DBS[db][status] * DBS[db]["test_fraction"]
        assert abs((pool["part"] == "test").sum() - wanted) < 3  # within a block of 3
        assert (pool["part"] == "train").any()
    default = split_real(meta, DBS, by="block", block_size=4, block_gap=1, seed=3)
    assert default.equals(splits)  # whole groups are the default
    by_image = split_real(meta, DBS, by="block", block_size=4, block_gap=1, seed=3, test_by="image")
    merged = by_image.merge(meta, on="id")
    merged["block"] = merged["patient"] + "/" + (merged["z"] // 4).astype(str)
    assert (merged.groupby("block")["part"].nunique() == 2).any()  # image by image mixes them
    with pytest.raises(InputError, match=r"split\.test_by"):
        split_real(meta, DBS, by="block", block_size=4, block_gap=1, seed=3, test_by="patient")


def test_split_deterministic():
    meta = _meta()
    a = split_real(meta, DBS, by="block", block_size=8, block_gap=2, seed=1)
    b = split_real(meta, DBS, by="block", block_size=8, block_gap=2, seed=1)
    c = split_real(meta, DBS, by="block", block_size=8, block_gap=2, seed=2)
    assert a.equals(b)
    assert not a.equals(c)


def test_split_too_few_images_names_the_keys():
    with pytest.raises(InputError) as err:
        split_real(_meta(patients=3), DBS, by="patient", block_size=8, block_gap=2, seed=0)
    message = str(err.value)
    assert "need 64 real images" in message and "90 usable images in 3 groups" in message
    assert "membership.<db>.used" in message and "split.by" in message
    with pytest.raises(InputError, match=r"split\.block_gap"):
        split_real(_meta(), DBS, by="block", block_size=4, block_gap=4, seed=0)
    with pytest.raises(InputError, match=r"membership\.db1\.used"):
        bad = {"db1": {"used": -1, "not_used": 2}}
        split_real(_meta(), bad, by="patient", block_size=4, block_gap=1, seed=0)


@pytest.mark.parametrize("by", ["patient", "block"])
@pytest.mark.parametrize("seed", range(5))
def test_split_by_group_keeps_every_group_on_one_side(by, seed):
    """Under test_by group no group has images in both a labelled train part and a test part,
    of any pool; every pool gets both parts."""
    meta = _meta(patients=40, slices=5) if by == "patient" else _meta(patients=6, slices=40)
    splits = split_real(meta, DBS, by=by, block_size=5, block_gap=1, seed=seed)
    assert splits["group"].is_unique is False  # groups hold several images
    assert (splits.groupby("group")["part"].nunique() == 1).all()
    assert (splits.groupby("group")["database"].nunique() == 1).all()
    for _, pool in splits.groupby(["database", "status"]):
        assert set(pool["part"]) == {"train", "test"}
    train, test = (set(splits.loc[splits["part"] == p, "group"]) for p in ("train", "test"))
    assert not train & test


def test_split_refuses_an_empty_test_or_train_part():
    # patients of 30 slices, pools of 12: each pool is one patient, its test part whole groups
    with pytest.raises(InputError) as err:
        split_real(_meta(), DBS, by="patient", block_size=8, block_gap=2, seed=0, build="demo")
    message = str(err.value)
    assert "builds.demo.membership.db1" in message and "db1/used" in message
    assert "empty test part" in message and "1 group(s)" in message
    assert "split.by: block" in message and "slices" in message
    assert "split.test_by: image" in message
    # blocks of 8 (7 kept) in a pool of 12: 7 + 5, a test part of 6 takes one; of 11, both
    dbs = {"db1": {"used": 12, "not_used": 12, "test_fraction": 0.9}}
    with pytest.raises(InputError, match=r"db1/\w+ gets an empty labelled train part") as err:
        split_real(_meta(), dbs, by="block", block_size=8, block_gap=1, seed=0)
    assert "smaller split.block_size" in str(err.value)
    # image by image: a fraction that rounds to no test image
    dbs = {"db1": {"used": 2, "not_used": 2, "test_fraction": 0.2}}
    with pytest.raises(InputError, match=r"membership\.db1\.test_fraction"):
        split_real(_meta(), dbs, by="block", block_size=8, block_gap=1, seed=0, test_by="image")


# --------------------------------------------------------------------------- generator_plan

BUILD = {
    "membership": {
        "db1": {"generator": "vae", "generated": 5},
        "db2": {"generator": "dcgan", "generated": 4},
    },
    "attribution": {
        "pool": "db2",
        "train_generators": ["vae", "dcgan", "pca_gaussian"],
        "test_generators": ["vae", "dcgan", "pca_gaussian", "upconv_gan"],
        "train_per_generator": 3,
        "test_per_generator": 2,
    },
}


def test_generator_plan_counts():
    assert generator_plan(BUILD) == {
        "db1/vae": 5,
        "db2/dcgan": 4 + 3 + 2,
        "db2/vae": 5,
        "db2/pca_gaussian": 5,
        "db2/upconv_gan": 2,
    }
    with pytest.raises(InputError, match=r"attribution\.pool"):
        generator_plan({**BUILD, "attribution": {**BUILD["attribution"], "pool": "db9"}})


def test_a_look_alike_generator_is_a_family_trained_on_another_database(tmp_path):
    """``db1/vae``: the VAE of db1's used images beside the pool's (db2's) VAE, one
    architecture on disjoint data, named ``vae.db1``; its samples follow db1's membership ones."""
    look_alike = {
        **BUILD["attribution"],
        "train_generators": ["vae", "db1/vae", "dcgan"],
        "test_generators": ["vae", "db1/vae", "dcgan", "upconv_gan"],
    }
    build = {**BUILD, "attribution": look_alike}
    assert generator_plan(build) == {
        "db1/vae": 5 + 3 + 2,
        "db2/dcgan": 4 + 3 + 2,
        "db2/vae": 5,
        "db2/upconv_gan": 2,
    }
    images, meta, splits, _ = _inputs()
    samples = {}
    for m, (key, n) in enumerate(generator_plan(build).items()):
        samples[key] = np.full((n, 8, 8), m, np.uint8)
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, build, seed=0)
    assert sorted(p.name for p in (out / "attribution" / "train").iterdir()) == [
        "dcgan",
        "vae",
        "vae.db1",
    ]
    labels = pd.read_csv(out / "attribution" / "test_labels.csv")
    assert sorted(labels["label"].unique()) == ["dcgan", "upconv_gan", "vae", "vae.db1"]
    key = list(generator_plan(build)).index("db1/vae")
    assert (read_gray_png(out / "attribution/train/vae.db1/vae.db1_00000.png") == key).all()
    with pytest.raises(InputError, match=r"'db9/vae'.*not a membership database"):
        generator_plan({**build, "attribution": {**look_alike, "test_generators": ["db9/vae"]}})


# --------------------------------------------------------------------------- write_layout


def _inputs(seed: int = 0):
    """Real images tagged with their row in pixel (0, 0); samples tagged (model, index)."""
    meta = _meta(patients=12, slices=8)
    images = np.zeros((len(meta), 8, 8), np.uint8)
    images[:, 0, 0] = np.arange(len(meta)) % 256
    images[:, 0, 1] = np.arange(len(meta)) // 256
    splits = split_real(meta, DBS, by="block", block_size=4, block_gap=0, seed=seed)
    return images, meta, splits, tagged_samples(generator_plan(BUILD), extra=1)


def tagged_samples(plan: dict[str, int], extra: int = 0) -> dict[str, np.ndarray]:
    """Samples of each planned model tagged in pixel (0, 0) by the model's position in the plan
    and in pixel (0, 1) by the sample's index, so a written file tells where it came from."""
    samples = {}
    for m, (key, n) in enumerate(plan.items()):
        arr = np.full((n + extra, 8, 8), 255, np.uint8)
        arr[:, 0, 0], arr[:, 0, 1] = m, np.arange(n + extra)
        samples[key] = arr
    return samples


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_write_layout_per_folder_names_as_the_task_ships_them(tmp_path):
    """`file_names: per_folder`: each folder numbered from 0, so names repeat across role
    folders; label and group files headed by `file` and naming the same images."""
    images, meta, splits, samples = _inputs()
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, {**BUILD, "file_names": "per_folder"}, seed=0)
    db = out / "membership" / "db1"
    for folder in ("generated", "real_used", "real_not_used", "real_unknown"):
        names = sorted(p.name for p in (db / folder).iterdir())
        assert names == [f"image_{i:05d}.png" for i in range(len(names))], folder
    labels = pd.read_csv(db / "test_labels.csv", dtype=str)
    assert list(labels.columns) == ["file", "label"]
    assert sorted(labels["file"]) == sorted(p.name for p in (db / "real_unknown").iterdir())
    groups = pd.read_csv(db / "groups.csv", dtype=str)
    real = {f"{f.parent.name}/{f.name}" for f in db.glob("real_*/*.png")}
    assert list(groups.columns) == ["file", "group"] and set(groups["file"]) == real
    attribution = pd.read_csv(out / "attribution" / "test_labels.csv", dtype=str)
    assert list(attribution.columns) == ["file", "model"]
    assert set(attribution["model"]) == set(BUILD["attribution"]["test_generators"])
    trained = [sorted(p.name for p in d.iterdir()) for d in (out / "attribution/train").iterdir()]
    assert all(names == trained[0] for names in trained)  # every generator: image_00000, ...


def test_write_layout_files_labels_and_sample_order(tmp_path):
    images, meta, splits, samples = _inputs()
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, BUILD, seed=0)
    expected = set()
    for db in DBS:
        n_gen = BUILD["membership"][db]["generated"]
        expected |= {f"membership/{db}/generated/{db}_gen_{i:05d}.png" for i in range(n_gen)}
        train = splits[(splits["database"] == db) & (splits["part"] == "train")]
        for status in ("used", "not_used"):
            ids = train.loc[train["status"] == status, "id"]
            expected |= {f"membership/{db}/real_{status}/{i}.png" for i in ids}
        n_test = int((splits[splits["database"] == db]["part"] == "test").sum())
        expected |= {
            f"membership/{db}/real_unknown/{db}_unknown_{i:04d}.png" for i in range(n_test)
        }
        expected |= {f"membership/{db}/test_labels.csv", f"membership/{db}/groups.csv"}
    for family in BUILD["attribution"]["train_generators"]:
        expected |= {f"attribution/train/{family}/{family}_{i:05d}.png" for i in range(3)}
    expected |= {f"attribution/test/test_{i:05d}.png" for i in range(8)}
    expected.add("attribution/test_labels.csv")
    assert _files(out) == expected
    assert not [p for p in tmp_path.iterdir() if p.name != "data"]  # no temporary leftovers

    # membership test labels: anonymous shuffled ids, label = used, image = the real test image
    status_of = dict(zip(splits["id"], splits["status"], strict=True))
    for db in DBS:
        labels = pd.read_csv(out / "membership" / db / "test_labels.csv", dtype={"id": str})
        assert list(labels.columns) == ["id", "label"] and labels["id"].is_unique
        assert all(re.fullmatch(rf"{db}_unknown_\d{{4}}", i) for i in labels["id"])
        assert labels["label"].tolist() != sorted(labels["label"])  # shuffled, no order leak
        for id_, label in zip(labels["id"], labels["label"], strict=True):
            image = read_gray_png(out / "membership" / db / "real_unknown" / f"{id_}.png")
            real_id = meta["id"].iloc[int(image[0, 0]) + 256 * int(image[0, 1])]
            assert label == (1 if status_of[real_id] == "used" else 0)
        used_dir = out / "membership" / db / "real_used"
        for path in used_dir.iterdir():
            np.testing.assert_array_equal(
                read_gray_png(path), images[meta["id"].tolist().index(path.stem)]
            )

    # sample order: db2/dcgan gives membership 0..3, attribution train 4..6, test 7..8
    keys = list(generator_plan(BUILD))
    gen = read_gray_png(out / "membership/db2/generated/db2_gen_00003.png")
    assert (gen[0, 0], gen[0, 1]) == (keys.index("db2/dcgan"), 3)
    train = read_gray_png(out / "attribution/train/dcgan/dcgan_00000.png")
    assert (train[0, 0], train[0, 1]) == (keys.index("db2/dcgan"), 4)
    labels = pd.read_csv(out / "attribution" / "test_labels.csv")
    assert labels["label"].value_counts().to_dict() == {
        f: 2 for f in BUILD["attribution"]["test_generators"]
    }
    for id_, family in zip(labels["id"], labels["label"], strict=True):
        image = read_gray_png(out / "attribution" / "test" / f"{id_}.png")
        assert image[0, 0] == keys.index(f"db2/{family}")
        first_test = 3 if family in BUILD["attribution"]["train_generators"] else 0
        first_test += 4 if family == "dcgan" else 0
        assert image[0, 1] in (first_test, first_test + 1)


def test_write_layout_groups_csv_names_every_real_image_written(tmp_path):
    images, meta, splits, samples = _inputs()
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, BUILD, seed=0)
    group_of = dict(zip(splits["id"], splits["group"], strict=True))
    for db in DBS:
        folder = out / "membership" / db
        table = pd.read_csv(folder / "groups.csv", dtype=str, keep_default_na=False)
        assert list(table.columns) == ["id", "group"] and table["id"].is_unique
        written = {
            p.stem
            for sub in ("real_used", "real_not_used", "real_unknown")
            for p in (folder / sub).glob("*.png")
        }
        assert set(table["id"]) == written  # exactly the real images, by written file stem
        groups = dict(zip(table["id"], table["group"], strict=True))
        unknown = {i for i in written if i.startswith(f"{db}_unknown_")}
        assert unknown == set(pd.read_csv(folder / "test_labels.csv", dtype=str)["id"])
        for id_ in written - unknown:  # labelled images keep their ids
            assert groups[id_] == group_of[id_]
        for id_ in unknown:  # anonymised test images: the group of the image behind the id
            image = read_gray_png(folder / "real_unknown" / f"{id_}.png")
            real_id = meta["id"].iloc[int(image[0, 0]) + 256 * int(image[0, 1])]
            assert groups[id_] == group_of[real_id]
        labelled = {groups[i] for i in written - unknown}
        assert labelled and not labelled & {groups[i] for i in unknown}  # grouped test part


def test_write_layout_replaces_existing_output(tmp_path):
    images, meta, splits, samples = _inputs()
    out = tmp_path / "data"
    (out / "membership").mkdir(parents=True)
    (out / "stale.txt").write_text("old")
    write_layout(out, images, meta, splits, samples, BUILD, seed=0)
    assert not (out / "stale.txt").exists()
    assert (out / "attribution" / "test_labels.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_write_layout_leaves_nothing_on_failure(tmp_path, monkeypatch):
    images, meta, splits, samples = _inputs()
    calls = []
    real_write = layout_mod.write_gray_png

    def flaky(path, image):
        calls.append(path)
        if len(calls) == 20:
            raise OSError("disk full")
        real_write(path, image)

    monkeypatch.setattr(layout_mod, "write_gray_png", flaky)
    out = tmp_path / "data"
    with pytest.raises(OSError, match="disk full"):
        write_layout(out, images, meta, splits, samples, BUILD, seed=0)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []

    # an existing complete layout survives a failed rebuild untouched
    out.mkdir()
    (out / "keep.txt").write_text("complete")
    calls.clear()
    with pytest.raises(OSError):
        write_layout(out, images, meta, splits, samples, BUILD, seed=0)
    assert _files(out) == {"keep.txt"}
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_write_layout_checks_samples(tmp_path):
    images, meta, splits, samples = _inputs()
    short = {**samples, "db1/vae": samples["db1/vae"][:2]}
    with pytest.raises(InputError, match="db1/vae"):
        write_layout(tmp_path / "d", images, meta, splits, short, BUILD, seed=0)
    missing = {k: v for k, v in samples.items() if k != "db2/upconv_gan"}
    with pytest.raises(InputError, match="upconv_gan"):
        write_layout(tmp_path / "d", images, meta, splits, missing, BUILD, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_a_second_attribution_set_takes_its_own_samples_of_the_shared_models(tmp_path):
    """``attribution_sets: {lookalike: ...}``: a second set in data/attribution_lookalike, whose
    images are further samples of the models the main set uses (none shown twice)."""
    lookalike = {
        **BUILD["attribution"],
        "train_generators": ["dcgan", "db1/vae"],
        "test_generators": ["dcgan", "db1/vae", "vae"],
    }
    build = {**BUILD, "attribution_sets": {"lookalike": lookalike}}
    plan = generator_plan(build)
    assert plan["db2/dcgan"] == 4 + 3 + 2 + 3 + 2 and plan["db1/vae"] == 5 + 3 + 2
    images, meta, splits, _ = _inputs()
    samples = {}
    for m, (key, n) in enumerate(plan.items()):
        samples[key] = np.zeros((n, 8, 8), np.uint8)
        samples[key][:, 0, 0], samples[key][:, 0, 1] = m, np.arange(n)
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, build, seed=0)
    assert sorted(p.name for p in (out / "attribution_lookalike" / "train").iterdir()) == [
        "dcgan",
        "vae.db1",
    ]
    shown = {}
    for folder in ("attribution", "attribution_lookalike"):
        for path in (out / folder).rglob("*.png"):
            image = read_gray_png(path)
            shown.setdefault((image[0, 0], image[0, 1]), []).append(path)
    assert all(len(paths) == 1 for paths in shown.values())  # no sample in two places
    with pytest.raises(InputError, match=r"attribution_sets\.lookalike\.pool 'db9'"):
        generator_plan({**build, "attribution_sets": {"lookalike": {**lookalike, "pool": "db9"}}})


def test_a_test_split_with_its_own_generator(tmp_path):
    """`generated_test`: db1's test split gets its own model of the same family, trained on the
    test part's used images (`db1.test/vae`), the development model only on the labelled ones
    (`db1.dev/vae`); their samples go to generated_test/ and generated/."""
    from medimprint.benchmark.layout import training_rows

    build = {**BUILD, "membership": {**BUILD["membership"]}}
    build["membership"]["db1"] = {**build["membership"]["db1"], "generated_test": 3}
    plan = generator_plan(build)
    assert plan["db1.dev/vae"] == 5 and plan["db1.test/vae"] == 3 and "db1/vae" not in plan
    images, meta, splits, _ = _inputs()
    used = splits[(splits["database"] == "db1") & (splits["status"] == "used")]
    dev, test = training_rows(splits, "db1.dev"), training_rows(splits, "db1.test")
    assert set(dev["part"]) == {"train"} and set(test["part"]) == {"test"}
    assert sorted([*dev["id"], *test["id"]]) == sorted(used["id"])
    assert training_rows(splits, "db1")["id"].tolist() == used["id"].tolist()
    samples = tagged_samples(plan)
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, build, seed=0)
    db = out / "membership" / "db1"
    tags = {
        folder: sorted(tuple(read_gray_png(p)[0, :2]) for p in (db / folder).glob("*.png"))
        for folder in ("generated", "generated_test")
    }
    model = list(plan)
    assert tags["generated"] == [(model.index("db1.dev/vae"), i) for i in range(5)]
    assert tags["generated_test"] == [(model.index("db1.test/vae"), i) for i in range(3)]


def test_membership_folders_as_the_task_ships_them(tmp_path):
    """`membership_folders: task`: train/{generated,real_used,real_not_used} and
    test/{real_unknown,generated}; the groups file names each real image by its path, and the
    dataset ingests from those folders."""
    from medimprint.data.validation import ingest

    build = {**BUILD, "file_names": "per_folder", "membership_folders": "task"}
    build["membership"] = {**BUILD["membership"]}
    build["membership"]["db1"] = {**build["membership"]["db1"], "generated_test": 3}
    plan = generator_plan(build)
    images, meta, splits, _ = _inputs()
    samples = {key: np.full((n, 8, 8), 7, np.uint8) for key, n in plan.items()}
    for arr in samples.values():
        arr[:, 0, 1] = np.arange(len(arr))
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, build, seed=0)
    db = out / "membership" / "db1"
    folders = ("train/generated", "train/real_used", "train/real_not_used", "test/real_unknown")
    assert all(any((db / f).glob("*.png")) for f in (*folders, "test/generated"))
    groups = pd.read_csv(db / "groups.csv", dtype=str)
    assert set(groups["file"]) == {
        str(p.relative_to(db)) for f in folders[1:] for p in (db / f).glob("*.png")
    }
    spec = {
        "root": str(db),
        "membership": {
            "generated": "train/generated/*.png",
            "real_used": "train/real_used/*.png",
            "real_not_used": "train/real_not_used/*.png",
            "real_unknown": "test/real_unknown/*.png",
            "generated_test": "test/generated/*.png",
            "test_labels": "test_labels.csv",
        },
    }
    manifest = ingest(spec, name="db1")
    own = manifest[(manifest["role"] == "generated") & (manifest["split"] == "test")]
    assert len(own) == 3 and (manifest.loc[manifest["role"] == "real", "label"] != "").all()


# --------------------------------------------------------------------------- subsets sets


SUBSETS = {
    "databases": ["db1", "db2"],
    "generator": "vae",
    "per_subset": 3,
    "unknown_per_subset": 2,
}


def test_a_subsets_set_takes_each_databases_model_after_its_membership_samples(tmp_path):
    build = {**BUILD, "subsets": SUBSETS}
    plan = generator_plan(build)
    assert plan["db1/vae"] == 5 + 3 + 2  # membership, then labelled, then unknown
    assert plan["db2/vae"] == 5 + 3 + 2  # attribution's train and test vae, then the subsets
    images, meta, splits, _ = _inputs()
    samples = tagged_samples(plan)
    out = tmp_path / "data"
    write_layout(out, images, meta, splits, samples, build, seed=0)
    root = out / "subsets"
    for db in ("db1", "db2"):
        used = splits[(splits["database"] == db) & (splits["status"] == "used")]
        real = sorted((root / "real" / db).iterdir())
        assert len(real) == len(used)  # every used image, labelled and test parts alike
        rows = {int(read_gray_png(p)[0, 0]) + 256 * int(read_gray_png(p)[0, 1]) for p in real}
        assert rows == set(meta.index[meta["id"].isin(used["id"])])
        generated = [read_gray_png(p)[0, :2] for p in sorted((root / "generated" / db).iterdir())]
        key = list(plan).index(f"{db}/vae")
        # after the 5 samples db1's membership (db2: attribution's vae) took
        assert [tuple(g) for g in generated] == [(key, 5 + i) for i in range(3)]
    labels = pd.read_csv(root / "test_labels.csv")
    assert list(labels.columns) == ["image_path", "label"]
    assert sorted(labels["label"]) == ["db1", "db1", "db2", "db2"]
    for name, subset in zip(labels["image_path"], labels["label"], strict=True):
        tag = read_gray_png(root / "generated_unknown" / name)[0, :2]
        assert tag[0] == list(plan).index(f"{subset}/vae") and tag[1] >= 8


def test_a_null_subsets_set_deals_one_pooled_models_samples():
    build = {**BUILD, "subsets": {**SUBSETS, "null": True}}
    plan = generator_plan(build)
    assert plan["pooled/vae"] == 2 * (3 + 2)
    splits = split_real(
        _meta(patients=12, slices=8), DBS, by="block", block_size=4, block_gap=0, seed=0
    )
    pooled = training_rows(splits, "pooled")
    assert set(pooled["id"]) == set(splits.loc[splits["status"] == "used", "id"])
    with pytest.raises(InputError, match=r"subsets.databases \['db9'\]"):
        generator_plan({**BUILD, "subsets": {**SUBSETS, "databases": ["db1", "db9"]}})

"""Tests for medimprint.data.validation: ingesting dataset folders into a validated manifest."""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from layouts import SIZE, attribution_layout, membership_layout, noise, png, subsets_layout
from PIL import Image

from medimprint.data.manifest import (
    COLUMNS,
    file_name,
    image_size,
    load_images,
    read_manifest,
    write_manifest,
)
from medimprint.data.validation import MAX_LISTED, dataset_files, ingest
from medimprint.errors import InputError


def ingest_error(spec: dict) -> str:
    """Run `ingest`, expecting one `InputError`; return its message."""
    with pytest.raises(InputError) as info:
        ingest(spec, name="db1")
    return str(info.value)


# --- valid datasets -------------------------------------------------------------------------


def test_membership_manifest_follows_contract(tmp_path):
    spec = membership_layout(tmp_path / "db1")
    manifest = ingest(spec, name="db1")
    assert list(manifest.columns) == list(COLUMNS)
    got = list(manifest[["id", "role", "split", "label"]].itertuples(index=False, name=None))
    assert got == [
        ("generated_0", "generated", "train", ""),
        ("generated_1", "generated", "train", ""),
        ("real_used_0", "real", "train", "1"),
        ("real_used_1", "real", "train", "1"),
        ("real_not_used_0", "real", "train", "0"),
        ("real_not_used_1", "real", "train", "0"),
        ("real_unknown_0", "real", "test", "0"),
        ("real_unknown_1", "real", "test", "1"),
    ]
    assert manifest["path"].iloc[0] == str(tmp_path / "db1" / "generated" / "generated_0.png")
    assert all(isinstance(v, str) for v in manifest.to_numpy().ravel())


def test_subsets_manifest_names_each_image_by_its_subset_folder(tmp_path):
    spec = subsets_layout(tmp_path, subsets=("s2", "s1"), n=2)
    manifest = ingest(spec)
    got = list(manifest[["id", "role", "split", "label"]].itertuples(index=False, name=None))
    assert got == [
        ("real/s1/image_00000", "real", "train", "s1"),
        ("real/s1/image_00001", "real", "train", "s1"),
        ("real/s2/image_00000", "real", "train", "s2"),
        ("real/s2/image_00001", "real", "train", "s2"),
        ("generated/s1/image_00000", "generated", "train", "s1"),
        ("generated/s1/image_00001", "generated", "train", "s1"),
        ("generated/s2/image_00000", "generated", "train", "s2"),
        ("generated/s2/image_00001", "generated", "train", "s2"),
        ("unknown/image_00000", "generated", "test", "s2"),
        ("unknown/image_00001", "generated", "test", "s1"),
    ]
    assert file_name("unknown/image_00001") == "image_00001"
    assert len(dataset_files(spec)) == 11  # images and the label file


def test_subsets_with_a_relative_root(tmp_path, monkeypatch):
    subsets_layout(tmp_path / "data" / "subsets")
    monkeypatch.chdir(tmp_path)
    manifest = ingest({**subsets_layout(Path("data/subsets")), "root": "data/subsets"})
    assert manifest["path"].iloc[0] == "data/subsets/real/s1/image_00000.png"
    assert len(manifest) == 10


def test_subsets_errors_name_the_folder_and_the_fix(tmp_path):
    spec = subsets_layout(tmp_path / "one", subsets=("s1",))
    assert "one subset folder ['s1']" in ingest_error(spec)
    spec = subsets_layout(tmp_path / "orphan")
    shutil.rmtree(tmp_path / "orphan" / "real" / "s2")
    assert "subset(s) ['s2'] have no real images" in ingest_error(spec)
    spec = subsets_layout(tmp_path / "labels")
    (tmp_path / "labels" / "test_labels.csv").write_text(
        "image_path,label\nimage_00000.png,s1\nimage_00001.png,s9\n"
    )
    assert "label(s) ['s9'] name no subset" in ingest_error(spec)
    spec = subsets_layout(tmp_path / "empty")
    shutil.rmtree(tmp_path / "empty" / "real")
    message = ingest_error(spec)
    assert "subsets.real: glob 'real/*/*.png' matches no file" in message
    assert "folder" in message and "real' does not exist" in message
    both = {**spec, "membership": {}}
    assert "'membership' and 'subsets'" in ingest_error(both)


def test_attribution_manifest_sorted_generators_and_foreign_test_label(tmp_path):
    spec = attribution_layout(tmp_path, generators=("vae", "dcgan"), n=3)
    (tmp_path / "test_labels.csv").write_text("id,label\nt0,vae\nt1,dcgan\nt2,stylegan\n")
    manifest = ingest(spec)
    train = manifest[manifest["split"] == "train"]
    assert train["label"].tolist() == ["dcgan"] * 3 + ["vae"] * 3
    assert set(manifest["role"]) == {"generated"}
    test = manifest[manifest["split"] == "test"]
    assert dict(zip(test["id"], test["label"], strict=True)) == {
        "t0": "vae",
        "t1": "dcgan",
        "t2": "stylegan",
    }


def test_without_test_labels_test_labels_are_empty(tmp_path):
    manifest = ingest(membership_layout(tmp_path, labels=False))
    assert manifest.loc[manifest["split"] == "test", "label"].tolist() == ["", ""]


def test_glob_order_is_sorted_not_creation_order(tmp_path):
    spec = attribution_layout(tmp_path)
    for name in ("z9", "a1", "m5"):
        png(tmp_path / "train" / "vae" / f"{name}.png")
    ids = ingest(spec)["id"].tolist()
    assert ids[2:7] == ["a1", "m5", "vae_0", "vae_1", "z9"]


def test_absolute_and_recursive_globs(tmp_path):
    spec = attribution_layout(tmp_path / "db")
    extra = png(tmp_path / "elsewhere" / "deep" / "x1.png")
    spec["attribution"]["generators"]["vae"] = str(tmp_path / "elsewhere" / "**" / "*.png")
    manifest = ingest(spec)
    assert str(extra) in manifest["path"].tolist()


def test_label_file_ids_may_carry_png_suffix_and_whitespace(tmp_path):
    spec = membership_layout(tmp_path)
    (tmp_path / "test_labels.csv").write_text(
        "\ufeffID , Label\nreal_unknown_0.png, 1\nreal_unknown_1 ,0\n"
    )
    manifest = ingest(spec)
    assert manifest.loc[manifest["split"] == "test", "label"].tolist() == ["1", "0"]


def test_equal_channel_rgb_is_accepted_with_summarised_warnings(tmp_path):
    spec = attribution_layout(tmp_path)
    for i in range(5):
        gray = noise(i)
        png(tmp_path / "train" / "vae" / f"rgb{i}.png", np.stack([gray] * 3, axis=-1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = ingest(spec)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 4  # 3 shown, then one summary
    assert "rgb0.png" in messages[0] and "converted to grayscale" in messages[0]
    assert "2 more" in messages[3]
    assert "rgb4" in manifest["id"].tolist()


# --- config problems ------------------------------------------------------------------------


def test_dataset_files_lists_images_and_labels_and_never_raises(tmp_path):
    spec = attribution_layout(tmp_path)
    files = dataset_files(spec)
    assert len(files) == 2 * 2 + 2 + 1
    assert files[-1].endswith("test_labels.csv")
    assert set(files[:-1]) == set(ingest(spec)["path"])
    assert dataset_files({"root": str(tmp_path / "missing"), "attribution": {}}) == []


def test_missing_root(tmp_path):
    spec = membership_layout(tmp_path / "db1")
    spec["root"] = str(tmp_path / "nope")
    message = ingest_error(spec)
    assert "root" in message and str(tmp_path / "nope") in message
    assert "does not exist" in message


def test_both_or_neither_task_sections(tmp_path):
    spec = membership_layout(tmp_path)
    spec["attribution"] = {"generators": {}, "test": "x"}
    assert "both 'membership' and 'attribution'" in ingest_error(spec)
    assert "has none of the sections 'membership', 'attribution', 'subsets'" in ingest_error(
        {"root": str(tmp_path)}
    )


def test_attribution_needs_two_generators(tmp_path):
    spec = attribution_layout(tmp_path, generators=("vae",))
    message = ingest_error(spec)
    assert "attribution.generators" in message and "at least 2" in message and "vae" in message


def test_bad_generator_name_and_missing_glob_key(tmp_path):
    spec = attribution_layout(tmp_path)
    spec["attribution"]["generators"]["style gan"] = "train/vae/*.png"
    del spec["attribution"]["test"]
    message = ingest_error(spec)
    assert "'style gan'" in message and "letters, digits" in message
    assert "attribution.test: missing" in message


# --- files ----------------------------------------------------------------------------------


def test_empty_role_names_role_glob_and_folder(tmp_path):
    spec = membership_layout(tmp_path)
    for f in (tmp_path / "real_used").iterdir():
        f.rename(f.with_suffix(".PNG"))
    spec["membership"]["real_not_used"] = "missing_folder/*.png"
    message = ingest_error(spec)
    assert "membership.real_used: glob 'real_used/*.png' matches no file" in message
    assert str(tmp_path / "real_used") in message and "real_used_0.PNG" in message
    assert "membership.real_not_used" in message
    assert f"folder '{tmp_path / 'missing_folder'}' does not exist" in message


def _truncated(path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(noise(1, (64, 64))).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


BAD_FILES = {
    "zero_byte": (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "truncated": (_truncated, "not a readable PNG"),
    "text": (lambda p: p.write_text("hello, I am not an image\n"), "not a readable PNG"),
    "jpeg": (
        lambda p: Image.fromarray(noise(2)).save(p, format="JPEG"),
        "is a JPEG file, not a PNG",
    ),
    "colour": (lambda p: png(p, noise(3, (*SIZE, 3))), "colour (RGB) image"),
    "sixteen_bit": (lambda p: png(p, noise(4).astype(np.uint16) * 257), "16-bit image"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_image_file_is_named_with_reason(tmp_path, kind):
    spec = membership_layout(tmp_path)
    make, reason = BAD_FILES[kind]
    make(tmp_path / "generated" / f"bad_{kind}.png")
    message = ingest_error(spec)
    assert f"bad_{kind}.png: " in message and reason in message
    assert "unreadable or invalid images (1)" in message


def test_all_problems_reported_in_one_error(tmp_path):
    spec = membership_layout(tmp_path)
    for kind, (make, _) in BAD_FILES.items():
        make(tmp_path / "real_used" / f"bad_{kind}.png")
    spec["membership"]["generated"] = "generated/**/*.png"
    png(tmp_path / "generated" / "x" / "generated_0.png")  # duplicate id
    (tmp_path / "test_labels.csv").write_text("id,label\nreal_unknown_0,2\n")
    message = ingest_error(spec)
    assert all(f"bad_{kind}.png" in message for kind in BAD_FILES)
    assert "'generated_0' is shared" in message
    assert "label '2'" in message and "real_unknown_1.png: test image has no label" in message


def test_long_problem_lists_are_cut(tmp_path):
    spec = membership_layout(tmp_path)
    for i in range(MAX_LISTED + 5):
        (tmp_path / "generated" / f"empty{i:02d}.png").write_bytes(b"")
    message = ingest_error(spec)
    assert f"({MAX_LISTED + 5})" in message and "... and 5 more" in message
    assert "empty00.png" in message and "empty24.png" not in message


def test_mixed_sizes_name_majority_and_odd_files(tmp_path):
    spec = membership_layout(tmp_path)
    png(tmp_path / "real_used" / "small.png", noise(7, (8, 8)))
    png(tmp_path / "real_unknown" / "wide.png", noise(8, (16, 20)))
    message = ingest_error(spec)
    assert "mixed image sizes (height x width) (2)" in message
    assert "small.png: 8x8 but most images (8 of 10) are 16x12" in message
    assert "wide.png: 16x20" in message
    assert "generated_0.png" not in message


def test_duplicate_ids_within_a_role_name_both_paths(tmp_path):
    spec = membership_layout(tmp_path)
    spec["membership"]["real_used"] = "real_used/**/*.png"
    other = png(tmp_path / "real_used" / "nested" / "real_used_0.png")
    message = ingest_error(spec)
    assert "id 'real_used_0' is shared by 2 files of membership.real_used" in message
    assert str(tmp_path / "real_used" / "real_used_0.png") in message and str(other) in message


def test_names_repeated_across_roles_get_role_qualified_ids(tmp_path):
    """The task ships role folders that reuse file names: each is its own image, and
    `file_name` gives back the name a submission must use."""
    for role in ("generated", "real_used", "real_not_used", "real_unknown"):
        for i in range(2):
            png(tmp_path / role / f"image_{i}.png", seed=10 * len(role) + i)
    (tmp_path / "labels.csv").write_text("file,label\nimage_0.png,1\nimage_1.png,0\n")
    spec = membership_layout(tmp_path, labels=False)
    spec["membership"] = {
        role: f"{role}/image_*.png"
        for role in ("generated", "real_used", "real_not_used", "real_unknown")
    } | {"test_labels": "labels.csv"}
    manifest = ingest(spec)
    assert manifest["id"].is_unique and len(manifest) == 8
    unknown = manifest[manifest["split"] == "test"]
    assert unknown["id"].tolist() == ["real_unknown/image_0", "real_unknown/image_1"]
    assert unknown["label"].tolist() == ["1", "0"]
    assert [file_name(i) for i in unknown["id"]] == ["image_0", "image_1"]
    assert manifest.loc[manifest["role"] == "generated", "label"].eq("").all()


def test_generator_folders_may_reuse_names_but_the_test_folder_may_not(tmp_path):
    spec = attribution_layout(tmp_path)
    for g in ("vae", "dcgan"):
        png(tmp_path / "train" / g / "img_0.png", seed=len(g))
    manifest = ingest(spec)
    assert {"vae/img_0", "dcgan/img_0"} <= set(manifest["id"])
    spec["attribution"]["test"] = "test/**/*.png"
    png(tmp_path / "test" / "sub" / "t0.png", seed=9)
    assert "id 't0' is shared by 2 files of attribution.test" in ingest_error(spec)


def test_overlapping_globs_are_reported(tmp_path):
    spec = attribution_layout(tmp_path)
    spec["attribution"]["generators"]["dcgan"] = "train/*/*.png"
    message = ingest_error(spec)
    assert "vae_0.png: matched by the globs of both" in message
    assert "attribution.generators.dcgan" in message


def test_ids_with_bad_characters(tmp_path):
    spec = attribution_layout(tmp_path)
    png(tmp_path / "test" / "slice 1.png")
    png(tmp_path / "test" / "slice#2.png")
    message = ingest_error(spec)
    assert "slice 1.png: id (file stem) 'slice 1'" in message and "'slice#2'" in message
    assert "letters, digits, '.', '_' and '-' only" in message


# --- test label files -----------------------------------------------------------------------


def test_label_file_missing(tmp_path):
    spec = membership_layout(tmp_path)
    (tmp_path / "test_labels.csv").unlink()
    message = ingest_error(spec)
    assert "membership.test_labels" in message and "test_labels.csv' not found" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("real_unknown_0,1\nreal_unknown_1,0\n", "no id column (one of id, file, filename"),
        ("id,used\nreal_unknown_0,1\n", "no label column (one of label, model, generator"),
        ("id,file,label\nreal_unknown_0,real_unknown_0,1\n", "several id columns"),
        ("", "not a readable CSV"),
        ("id,label\nreal_unknown_0,1\nreal_unknown_1,yes\n", "label 'yes'; membership labels"),
        ("id,label\nreal_unknown_0,1\nreal_unknown_1,0\nghost,1\n", "'ghost' is not a test"),
        ("id,label\nreal_unknown_0,1\nreal_unknown_1,0\nreal_used_0,1\n", "training image"),
        ("id,label\nreal_unknown_0,1\n", "real_unknown_1.png: test image has no label"),
        ("id,label\nreal_unknown_0,1\nreal_unknown_1,0\nreal_unknown_1,0\n", "more than once"),
        ("id,label\nreal_unknown_0,1\n,0\nreal_unknown_1,0\n", "data row 2 has an empty id"),
    ],
    ids=[
        "no_header",
        "wrong_column",
        "two_id_columns",
        "empty",
        "bad_label",
        "unknown",
        "train",
        "missing",
        "dup",
        "empty_id",
    ],
)
def test_bad_membership_label_files(tmp_path, content, expected):
    spec = membership_layout(tmp_path)
    (tmp_path / "test_labels.csv").write_text(content)
    message = ingest_error(spec)
    assert expected in message and "test_labels.csv" in message


def test_attribution_labels_must_not_be_empty(tmp_path):
    spec = attribution_layout(tmp_path)
    (tmp_path / "test_labels.csv").write_text("id,label\nt0,vae\nt1,\n")
    assert "'t1' has an empty label" in ingest_error(spec)


# --- manifest files and image loading -------------------------------------------------------


def test_manifest_roundtrip_and_no_file_on_failure(tmp_path):
    spec = membership_layout(tmp_path / "db1")
    out = tmp_path / "results" / "db1" / "manifest.tsv"
    manifest = ingest(spec)
    write_manifest(manifest, out)
    pd.testing.assert_frame_equal(read_manifest(out), manifest)

    out.unlink()
    (tmp_path / "db1" / "generated" / "generated_0.png").write_bytes(b"")
    with pytest.raises(InputError):
        write_manifest(ingest(spec), out)
    assert list(out.parent.iterdir()) == []  # neither the manifest nor a temporary file


def test_read_manifest_errors(tmp_path):
    with pytest.raises(InputError, match="manifest not found"):
        read_manifest(tmp_path / "none.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tpath\nx\ty.png\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['role', 'split', 'label'\]"):
        read_manifest(bad)
    with pytest.raises(ValueError, match="TSV"):
        write_manifest(pd.DataFrame(columns=list(COLUMNS)), tmp_path / "m.csv")


def test_load_images_and_image_size(tmp_path):
    paths = [png(tmp_path / f"{i}.png", noise(i)) for i in range(5)]
    images = load_images([str(p) for p in paths], workers=3)
    assert images.dtype == np.uint8 and images.shape == (5, *SIZE)
    np.testing.assert_array_equal(images[3], noise(3))
    assert load_images([]).shape == (0, 0, 0)
    manifest = pd.DataFrame({"path": [str(p) for p in paths]})
    assert image_size(manifest) == SIZE

    png(tmp_path / "odd.png", noise(9, (4, 4)))
    with pytest.raises(InputError, match=r"odd\.png: 4x4 pixels"):
        load_images([*paths, tmp_path / "odd.png"])


# --- real data ------------------------------------------------------------------------------


def test_real_ct_slices(tmp_path, luna16):
    slices = sorted((luna16 / "slices").glob("*.png"))
    by_patient = {
        p: [s for s in slices if s.name.startswith(p)][:4]
        for p in ("patient1", "patient2", "patient3")
    }

    def copy(files: list[Path], folder: Path) -> None:
        folder.mkdir(parents=True)
        for f in files:
            shutil.copy(f, folder / f.name)

    att = tmp_path / "attribution"
    copy(by_patient["patient1"], att / "train" / "p1")
    copy(by_patient["patient2"], att / "train" / "p2")
    copy(by_patient["patient3"][:2], att / "test")
    spec = {
        "root": str(att),
        "attribution": {
            "generators": {"p1": "train/p1/*.png", "p2": "train/p2/*.png"},
            "test": "test/*.png",
        },
    }
    manifest = ingest(spec, name="luna")
    assert len(manifest) == 10 and manifest["label"].tolist()[:4] == ["p1"] * 4
    height, width = image_size(manifest)
    assert load_images(manifest["path"].tolist()).shape == (10, height, width)

    mem = tmp_path / "membership"
    copy(by_patient["patient1"][:2], mem / "generated")
    copy(by_patient["patient2"][:2], mem / "real_used")
    copy(by_patient["patient2"][2:], mem / "real_not_used")
    copy(by_patient["patient3"], mem / "real_unknown")
    rows = [f"{f.stem},{i % 2}" for i, f in enumerate(by_patient["patient3"])]
    (mem / "labels.csv").write_text("id,label\n" + "\n".join(rows) + "\n")
    spec = membership_layout(mem, n=0, labels=False)
    spec["membership"]["test_labels"] = "labels.csv"
    manifest = ingest(spec, name="luna")
    assert manifest.groupby("role").size().to_dict() == {"generated": 2, "real": 8}
    assert manifest.loc[manifest["split"] == "test", "label"].tolist() == ["0", "1", "0", "1"]


@pytest.mark.parametrize("header", ["file,label", "Filename,Model", "image,class", "id,generator"])
def test_label_headers_as_people_write_them(tmp_path, header):
    """The usual names of the id and label columns are read; file names may keep .png."""
    spec = membership_layout(tmp_path)
    (tmp_path / "test_labels.csv").write_text(f"{header}\nreal_unknown_0.png,1\nreal_unknown_1,0\n")
    manifest = ingest(spec)
    test = manifest[manifest["split"] == "test"].set_index("id")["label"]
    assert test.to_dict() == {"real_unknown_0": "1", "real_unknown_1": "0"}


def test_membership_test_split_may_bring_its_own_generated_images(tmp_path):
    """`generated_test` (optional): the test split's own generated images, role generated,
    split test, never labelled; names repeated across the two generated folders are qualified
    by folder; a test label naming one of them is refused with what it is."""
    spec = membership_layout(tmp_path)
    for i in range(3):
        png(tmp_path / "test_generated" / f"generated_{i}.png", seed=900 + i)
    spec["membership"]["generated_test"] = "test_generated/*.png"
    manifest = ingest(spec, name="db1")
    own = manifest[(manifest["role"] == "generated") & (manifest["split"] == "test")]
    assert own["id"].tolist() == [f"generated_test/generated_{i}" for i in range(3)]
    assert (own["label"] == "").all()
    assert "generated/generated_0" in manifest["id"].tolist()  # the training split's
    real_test = manifest[(manifest["role"] == "real") & (manifest["split"] == "test")]
    assert real_test["label"].tolist() == ["0", "1"]
    labels = tmp_path / "test_labels.csv"
    labels.write_text(labels.read_text() + "generated_2,1\n")
    message = ingest_error(spec)
    assert "'generated_2' is not a test image" in message
    assert "a given image of membership.generated_test" in message


def test_generated_globs_may_be_a_list_with_names_repeated_across_folders(tmp_path):
    """A user who knows one generator made the task's train/generated and test/generated
    lists both under `generated`: names repeat, so ids are qualified by folder."""
    spec = membership_layout(tmp_path)
    for k, folder in enumerate(("train/generated", "test/generated")):
        for i in range(2):
            png(tmp_path / folder / f"image_{i}.png", seed=700 + 10 * k + i)
    spec["membership"]["generated"] = ["train/generated/*.png", "test/generated/*.png"]
    manifest = ingest(spec, name="db1")
    generated = manifest[manifest["role"] == "generated"]
    assert generated["id"].tolist() == [
        "train/generated/image_0",
        "train/generated/image_1",
        "test/generated/image_0",
        "test/generated/image_1",
    ]
    assert set(generated["split"]) == {"train"}
    spec["membership"]["generated"] = ["train/generated/*.png", "nowhere/*.png"]
    assert "membership.generated[1]: glob 'nowhere/*.png' matches no file" in ingest_error(spec)
    spec["membership"]["generated"] = []
    assert "membership.generated: a list must hold glob strings" in ingest_error(spec)

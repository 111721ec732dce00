"""A corpus of bad input (issue 7), made here by code (PIL, numpy, struct and zlib; no binary
fixtures). Each case is checked at the layer that owns it and must end either in one
`InputError` whose message names the file or key and the fix, or in a documented rule (e.g. a
gray RGB image read as gray with a warning); never in another exception, a hang or a partial
output.

Layers: ``image``, ``dataset`` and ``labels`` run `medimprint.data.validation.ingest`, as the
workflow's ingest script does; ``config`` runs `medimprint.config.check_schema` then
`check_config`, as workflow/rules/common.smk does; ``membership`` and ``features`` call the
library functions that meet the input. The ``test_workflow_*`` tests run a few cases through
Snakemake: non-zero exit, one clear message, no traceback, no output file.

Unreadable files: permissions do not stop root, so when the tests run as root (as in this
project's containers) `_deny` makes opening or listing the chmod-000 path raise the
`PermissionError` any other user gets; as another user the chmod alone does it.

`CASES` holds the corpus (45 cases); `ISSUE_ITEMS` maps each item of the issue's list to them.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, snakemake
from layouts import SIZE, attribution_layout, membership_layout, noise, png
from PIL import Image

from medimprint.config import check_config, check_schema
from medimprint.data.manifest import read_manifest
from medimprint.data.validation import ingest
from medimprint.data.views import training_labels
from medimprint.errors import InputError
from medimprint.membership.folds import cross_validated_decisions
from medimprint.membership.splits import feature_splits

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TEST_CONFIG = REPO / "config" / "test.yaml"
#: A dataset root no shell could take unquoted (the workflow never hands it to one).
ODD_ROOT = "data a b;$(touch PWNED)&`id` 'q\""


@dataclass(frozen=True)
class Case:
    """One bad input: ``build(tmp_path, monkeypatch)`` makes it and returns what its layer
    checks (a dataset entry, a config, or a callable for the other layers)."""

    id: str
    layer: str  # image | dataset | labels | config | membership | features
    build: Callable[[Path, pytest.MonkeyPatch], Any]
    #: Fragments of the error message (the file or key, and the fix); for a rule, of its warning.
    expect: tuple[str, ...]
    #: The documented rule that handles the input (no error), or "".
    rule: str = ""
    #: Further checks of a rule's result.
    verify: Callable[[Any], None] | None = None


# --- builders -------------------------------------------------------------------------------


def _dataset(tmp: Path, bad: Callable[[Path], Any] | None = None, name: str = "bad.png") -> dict:
    """A valid membership dataset, plus ``bad(path)`` writing ``generated/<name>``."""
    spec = membership_layout(tmp / "db1")
    if bad is not None:
        bad(tmp / "db1" / "generated" / name)
    return spec


def _image(bad: Callable[[Path], Any], name: str = "bad.png") -> Callable[..., dict]:
    return lambda tmp, _: _dataset(tmp, bad, name)


def _truncated(path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(noise(1, (64, 64))).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _header_only(width: int, height: int) -> Callable[[Path], None]:
    """A PNG whose IHDR claims ``width x height`` 8-bit gray pixels, with 10 bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    data += _chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + _chunk(b"IEND", b"")
    return lambda path: path.write_bytes(data)


def _gray(channels: int) -> np.ndarray:
    """Noise repeated in 3 channels (plus an opaque alpha when ``channels`` is 4)."""
    gray = noise(5)
    planes = [gray] * 3 + [np.full_like(gray, 255)] * (channels - 3)
    return np.stack(planes, axis=-1)


def _palette(colour: bool) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        rgb = noise(6, (*SIZE, 3)) if colour else _gray(3)
        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(path)

    return write


def _deny(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``path`` unreadable: chmod 000, and as root (whom permissions do not stop) make
    opening or listing it raise the `PermissionError` every other user gets."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    denied = str(path)

    def guard(function: Callable) -> Callable:
        def guarded(target: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(target, str | os.PathLike) and os.path.abspath(target) == denied:
                raise PermissionError(errno.EACCES, "Permission denied", denied)
            return function(target, *args, **kwargs)

        return guarded

    for module, name in ((builtins, "open"), (os, "scandir"), (os, "listdir")):
        monkeypatch.setattr(module, name, guard(getattr(module, name)))


def _unreadable_file(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    spec = _dataset(tmp, png)
    _deny(monkeypatch, tmp / "db1" / "generated" / "bad.png")
    return spec


def _unreadable_folder(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    spec = _dataset(tmp)
    _deny(monkeypatch, tmp / "db1" / "real_used")
    return spec


def _unreadable_labels(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    spec = _dataset(tmp)
    _deny(monkeypatch, tmp / "db1" / "test_labels.csv")
    return spec


def _broken_link(path: Path) -> None:
    path.symlink_to(path.parent / "moved_away.png")


def _folder(path: Path) -> None:
    png(path / "inside.png")


def _black(path: Path) -> None:
    png(path, np.zeros(SIZE, dtype=np.uint8))


def _all_generated_constant(tmp: Path, _: pytest.MonkeyPatch) -> dict:
    spec = _dataset(tmp)
    for level, path in enumerate(sorted((tmp / "db1" / "generated").iterdir())):
        png(path, np.full(SIZE, 255 * level, dtype=np.uint8))  # black, white
    return spec


def _shared_id(tmp: Path, _: pytest.MonkeyPatch) -> dict:
    """The same file name twice under one role's (recursive) glob: a real duplicate."""
    spec = _dataset(tmp)
    spec["membership"]["real_used"] = "real_used/**/*.png"
    png(tmp / "db1" / "real_used" / "x" / "real_used_0.png")
    return spec


def _name_across_roles(tmp: Path, _: pytest.MonkeyPatch) -> dict:
    """The task's data as shipped: one file name in two role folders names two images."""
    spec = _dataset(tmp)
    png(tmp / "db1" / "real_not_used" / "real_used_0.png")
    return spec


def _generator(name: str) -> Callable[..., dict]:
    def build(tmp: Path, _: pytest.MonkeyPatch) -> dict:
        spec = attribution_layout(tmp / "att")
        spec["attribution"]["generators"][name] = "train/vae/*.png"
        return spec

    return build


def _emptied(folder: str) -> Callable[..., dict]:
    def build(tmp: Path, _: pytest.MonkeyPatch) -> dict:
        spec = _dataset(tmp)
        for path in (tmp / "db1" / folder).iterdir():
            path.unlink()
        return spec

    return build


def _odd_root(tmp: Path, _: pytest.MonkeyPatch) -> dict:
    return membership_layout(tmp / ODD_ROOT)


def _labels(rows: str) -> Callable[..., dict]:
    """A dataset whose test label file holds ``rows`` after the header."""

    def build(tmp: Path, _: pytest.MonkeyPatch) -> dict:
        spec = _dataset(tmp)
        (tmp / "db1" / "test_labels.csv").write_text("id,label\n" + rows)
        return spec

    return build


def _config(edit: Callable[[dict], Any]) -> Callable[..., dict]:
    """config/test.yaml with ``edit`` applied."""

    def build(tmp: Path, _: pytest.MonkeyPatch) -> dict:
        config = yaml.safe_load(TEST_CONFIG.read_text())
        edit(config)
        return config

    return build


def _manifest(labels: list[str]) -> pd.DataFrame:
    """A membership manifest: 2 generated images, real training images with ``labels``, 2 test
    images."""
    rows = [(f"g{i}", "generated", "train", "") for i in range(2)]
    rows += [(f"r{i}", "real", "train", label) for i, label in enumerate(labels)]
    rows += [(f"t{i}", "real", "test", "") for i in range(2)]
    return pd.DataFrame(rows, columns=["id", "role", "split", "label"]).assign(path="")


def _one_class(tmp: Path, _: pytest.MonkeyPatch) -> Callable[[], Any]:
    return lambda: training_labels(_manifest(["1", "1", "1"]))


def _class_of_one(tmp: Path, _: pytest.MonkeyPatch) -> Callable[[], Any]:
    return lambda: cross_validated_decisions(np.arange(4.0), np.array([1, 1, 1, 0]))


def _constant_features(tmp: Path, _: pytest.MonkeyPatch) -> Callable[[], Any]:
    def run() -> dict[str, np.ndarray]:
        from medimprint.features.extractors import build_extractor
        from medimprint.features.stores import standardise_blocks

        black = np.zeros((6, *SIZE), dtype=np.uint8)
        out = {name: build_extractor(name)(black) for name in ("lbp", "dct", "pixels")}
        manifest = _manifest(["1", "0"])
        splits = feature_splits(manifest, manifest["id"].tolist(), out["lbp"])
        out["standardised"] = np.vstack([splits.generated, splits.train_x, splits.test_x])
        out["blocks"] = standardise_blocks([out["lbp"], out["dct"]])
        return out

    return run


# --- checks of rule results -----------------------------------------------------------------


def _has_id(id_: str, present: bool = True) -> Callable[[pd.DataFrame], None]:
    def verify(manifest: pd.DataFrame) -> None:
        assert (id_ in manifest["id"].tolist()) == present

    return verify


def _paths_exist(manifest: pd.DataFrame) -> None:
    assert ODD_ROOT in manifest["path"].iloc[0]
    assert all(Path(p).is_file() for p in manifest["path"])


def _finite_and_zero_when_standardised(out: dict[str, np.ndarray]) -> None:
    assert all(np.isfinite(x).all() for x in out.values())
    assert not out["standardised"].any() and not out["blocks"].any()


# --- the corpus -----------------------------------------------------------------------------

CASES = [
    # image files, found by a dataset's globs
    Case(
        "zero_byte",
        "image",
        _image(lambda p: p.write_bytes(b"")),
        ("generated/bad.png: empty file (0 bytes)", "copy it again or remove it"),
    ),
    Case(
        "truncated_png",
        "image",
        _image(_truncated),
        ("generated/bad.png: not a readable PNG", "re-export the image or remove it"),
    ),
    Case(
        "text_named_png",
        "image",
        _image(lambda p: p.write_text("hello, I am not an image\n")),
        ("generated/bad.png: not a readable PNG", "re-export the image or remove it"),
    ),
    Case(
        "png_16bit",
        "image",
        _image(lambda p: png(p, noise(4).astype(np.uint16) * 257)),
        ("generated/bad.png: 16-bit image", "convert it to 8-bit grayscale"),
    ),
    Case(
        "rgb_colour",
        "image",
        _image(lambda p: png(p, noise(3, (*SIZE, 3)))),
        ("generated/bad.png: colour (RGB) image", "convert it to grayscale (mode L)"),
    ),
    Case(
        "rgb_gray",
        "image",
        _image(lambda p: png(p, _gray(3)), "odd.png"),
        ("odd.png: RGB image with equal channels converted to grayscale",),
        rule="opaque equal-channel RGB is read as gray, with a warning",
        verify=_has_id("odd"),
    ),
    Case(
        "rgba_gray",
        "image",
        _image(lambda p: png(p, _gray(4)), "odd.png"),
        ("odd.png: RGBA image with equal channels converted to grayscale",),
        rule="opaque equal-channel RGBA is read as gray, with a warning",
        verify=_has_id("odd"),
    ),
    Case(
        "rgba_transparent",
        "image",
        _image(lambda p: png(p, np.dstack([_gray(3), noise(9)]))),
        ("generated/bad.png: RGBA image has transparent pixels", "save it as an opaque"),
    ),
    Case(
        "palette_gray",
        "image",
        _image(_palette(colour=False), "odd.png"),
        ("odd.png: palette image with equal channels converted to grayscale",),
        rule="a palette of grays is read as gray, with a warning",
        verify=_has_id("odd"),
    ),
    Case(
        "palette_colour",
        "image",
        _image(_palette(colour=True)),
        ("generated/bad.png: colour (palette) image", "convert it to grayscale (mode L)"),
    ),
    Case(
        "jpeg_named_png",
        "image",
        _image(lambda p: Image.fromarray(noise(2)).save(p, format="JPEG")),
        ("generated/bad.png: is a JPEG file, not a PNG", "convert it to an 8-bit grayscale PNG"),
    ),
    Case(
        "wrong_size",
        "image",
        _image(lambda p: png(p, noise(7, (8, 8)))),
        ("generated/bad.png: 8x8 but most images (8 of 9) are 16x12", "resize it to 16x12"),
    ),
    Case(
        "bomb_header",
        "image",
        _image(_header_only(100_000, 100_000)),
        ("generated/bad.png: image header declares more than", "resize it"),
    ),
    Case(
        "oversized_header",
        "image",
        _image(_header_only(5000, 5000)),
        ("generated/bad.png: 5000x5000 pixels is larger than", "resize it"),
    ),
    Case(
        "unreadable_file",
        "image",
        _unreadable_file,
        ("generated/bad.png: permission denied", "make the file readable (chmod a+r)"),
    ),
    Case(
        "broken_symlink",
        "image",
        _image(_broken_link),
        ("generated/bad.png: broken symbolic link", "moved_away.png", "fix the link"),
    ),
    Case(
        "folder_named_png",
        "image",
        _image(_folder, "odd.png"),
        (),
        rule="folders matched by a glob are skipped",
        verify=_has_id("odd", present=False),
    ),
    Case(
        "constant_image",
        "image",
        _image(_black, "black.png"),
        ("1 image(s) have one gray level", "black.png", "check them"),
        rule="an image of one gray level is kept, with one warning naming it",
        verify=_has_id("black"),
    ),
    Case(
        "constant_glob",
        "image",
        _all_generated_constant,
        ("membership.generated: all 2 image(s) have one gray level", "replace them"),
    ),
    # ids, folders and roots
    Case(
        "duplicate_id_within_role",
        "dataset",
        _shared_id,
        (
            "id 'real_used_0' is shared by 2 files of membership.real_used",
            "real_used/x/real_used_0.png",
            "unique within one role folder",
        ),
    ),
    Case(
        "same_name_across_roles",
        "dataset",
        _name_across_roles,
        (),
        rule="a file name repeated in two role folders names two images, kept apart by "
        "role-qualified ids (role/name); submissions use the name",
        verify=_has_id("real_not_used/real_used_0"),
    ),
    Case(
        "file_stem_with_separator",
        "dataset",
        _image(png, "a\\..\\b.png"),
        ("id (file stem) 'a\\\\..\\\\b'", "rename the file"),
    ),
    Case(
        "generator_name_with_separator",
        "dataset",
        _generator("../vae"),
        ("attribution.generators: name '../vae'", "rename it"),
    ),
    Case(
        "generator_name_dots",
        "dataset",
        _generator(".."),
        ("attribution.generators: name '..'", "no spaces, folders or dots alone", "rename it"),
    ),
    Case(
        "empty_generated_set",
        "dataset",
        _emptied("generated"),
        ("membership.generated: glob 'generated/*.png' matches no file", "add the images"),
    ),
    Case(
        "training_split_one_class",
        "dataset",
        _emptied("real_not_used"),
        ("membership.real_not_used: glob 'real_not_used/*.png' matches no", "add the images"),
    ),
    Case(
        "unreadable_folder",
        "dataset",
        _unreadable_folder,
        ("real_used' cannot be read (permission denied: chmod a+rx it)",),
    ),
    Case(
        "root_with_spaces",
        "dataset",
        _odd_root,
        (),
        rule="roots may hold spaces and shell metacharacters (never passed to a shell)",
        verify=_paths_exist,
    ),
    # test label files
    Case(
        "label_unknown_id",
        "labels",
        _labels("real_unknown_0,1\nreal_unknown_1,0\nghost,1\n"),
        ("test_labels.csv: id 'ghost' is not a test image", "remove the row or add the image"),
    ),
    Case(
        "label_missing_id",
        "labels",
        _labels("real_unknown_0,1\n"),
        ("real_unknown_1.png: test image has no label in", "add a row 'real_unknown_1,<label>'"),
    ),
    Case(
        "label_not_0_or_1",
        "labels",
        _labels("real_unknown_0,2\nreal_unknown_1,0.5\n"),
        ("id 'real_unknown_0' has label '2'", "'0.5'", "labels are 1 (used for training) or 0"),
    ),
    Case(
        "label_id_with_folder",
        "labels",
        _labels("real_unknown/real_unknown_0,1\nreal_unknown_1,0\n"),
        ("has id 'real_unknown/real_unknown_0': ids are file stems", "without its folder"),
    ),
    Case(
        "label_id_with_dotdot",
        "labels",
        _labels("../real_unknown_0,1\nreal_unknown_1,0\n"),
        ("has id '../real_unknown_0': ids are file stems", "without its folder"),
    ),
    Case(
        "unreadable_label_file",
        "labels",
        _unreadable_labels,
        ("test_labels.csv: permission denied", "make the file readable (chmod a+r)"),
    ),
    # the workflow config
    Case(
        "misspelt_top_key",
        "config",
        _config(lambda c: c.update(bootstarp=c.pop("bootstrap"))),
        ("bootstarp: unknown key (did you mean 'bootstrap'?)", "rename or remove it"),
    ),
    Case(
        "misspelt_section_key",
        "config",
        _config(lambda c: c["regions"].update(crop=c["regions"].pop("crops"))),
        ("regions.crop: unknown key (did you mean 'crops'?)", "rename or remove it"),
    ),
    Case(
        "misspelt_dataset_key",
        "config",
        _config(lambda c: c["datasets"]["tiny_db1"]["membership"].update(real_usd="x/*.png")),
        ("datasets.tiny_db1.membership.real_usd: unknown key (did you mean 'real_used'?)",),
    ),
    Case(
        "negative_k",
        "config",
        _config(lambda c: c["regions"].update(k=[2, -4])),
        ("regions.k[1]: -4 is less than the minimum of 1", "fix the value"),
    ),
    Case(
        "negative_k_max",
        "config",
        _config(lambda c: c["attribution"].update(k_max=-1)),
        ("attribution.k_max: -1 is less than the minimum of 3", "fix the value"),
    ),
    Case(
        "unknown_backbone",
        "config",
        _config(lambda c: c["backbones"].update(resnet51={})),
        ("backbones: unknown name 'resnet51' (did you mean 'resnet50'?)", "use one of: "),
    ),
    Case(
        "unlisted_backbone",
        "config",
        _config(lambda c: c["regions"].update(backbones=["vgg16"])),
        ("regions.backbones lists ['vgg16']", "add them to backbones or drop them"),
    ),
    Case(
        "dataset_name_with_separator",
        "config",
        _config(lambda c: c["datasets"].update({"../evil": c["datasets"].pop("tiny_db1")})),
        ("dataset name '../evil' may contain only letters", "rename it"),
    ),
    Case(
        "config_paths_with_spaces",
        "config",
        _config(lambda c: c["datasets"]["tiny_db1"].update(root=f"a b/{ODD_ROOT}")),
        (),
        rule="paths in config may hold spaces and shell metacharacters",
    ),
    # what the membership methods and feature extraction meet
    Case(
        "membership_one_class",
        "membership",
        _one_class,
        ("real_used and real_not_used", "got 3 images of 1 class(es)", "add the missing class"),
    ),
    Case(
        "membership_class_of_one",
        "membership",
        _class_of_one,
        ("got 3 used and 1 not used", "add real training images", "to the smaller class"),
    ),
    Case(
        "constant_features",
        "features",
        _constant_features,
        (),
        rule="zero-variance features are standardised to 0, never NaN",
        verify=_finite_and_zero_when_standardised,
    ),
]

#: Each item of the issue's list, and the cases covering it (the others are extra).
ISSUE_ITEMS = {
    "zero-byte file": ["zero_byte"],
    "truncated PNG": ["truncated_png"],
    "a text file named .png": ["text_named_png"],
    "16-bit PNG": ["png_16bit"],
    "RGB, RGBA and palette PNGs": [
        "rgb_colour",
        "rgb_gray",
        "rgba_gray",
        "rgba_transparent",
        "palette_gray",
        "palette_colour",
    ],
    "a JPEG": ["jpeg_named_png"],
    "wrong size": ["wrong_size"],
    "a decompression-bomb sized header": ["bomb_header", "oversized_header"],
    "unreadable permissions": ["unreadable_file", "unreadable_folder", "unreadable_label_file"],
    "duplicate ids": ["duplicate_id_within_role", "same_name_across_roles"],
    "an id with path separators or ..": [
        "file_stem_with_separator",
        "generator_name_with_separator",
        "generator_name_dots",
        "label_id_with_folder",
        "label_id_with_dotdot",
        "dataset_name_with_separator",
    ],
    "a label file with unknown ids": ["label_unknown_id"],
    "a label file with missing ids": ["label_missing_id"],
    "a label file with labels other than 0 and 1": ["label_not_0_or_1"],
    "a config with a misspelt key": [
        "misspelt_top_key",
        "misspelt_section_key",
        "misspelt_dataset_key",
    ],
    "a config with negative k": ["negative_k", "negative_k_max"],
    "a config with an unknown backbone": ["unknown_backbone", "unlisted_backbone"],
    "a config with a path with spaces": ["config_paths_with_spaces", "root_with_spaces"],
    "an empty generated set": ["empty_generated_set"],
    "constant (all-black) images": ["constant_image", "constant_glob", "constant_features"],
    "a training split with one class only": [
        "training_split_one_class",
        "membership_one_class",
        "membership_class_of_one",
    ],
}
BY_ID = {case.id: case for case in CASES}
INGESTED = ("image", "dataset", "labels")


def _run(case: Case, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the case's input and check it at its layer; return the result."""
    made = case.build(tmp, monkeypatch)
    if case.layer in INGESTED:
        return ingest(made, name="db1", workers=2)
    if case.layer == "config":
        check_schema(made, SCHEMA)
        check_config(made)
        return made
    return made()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.layer}-{c.id}" for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch):
    if not case.rule:
        with pytest.raises(InputError) as info:
            _run(case, tmp_path, monkeypatch)
        message = str(info.value)
        for fragment in case.expect:
            assert fragment in message, f"{fragment!r} not in:\n{message}"
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run(case, tmp_path, monkeypatch)
    said = "\n".join(str(w.message) for w in caught)
    for fragment in case.expect:
        assert fragment in said, f"rule '{case.rule}': no warning with {fragment!r} in:\n{said}"
    if case.verify is not None:
        case.verify(result)


def test_corpus_covers_every_issue_item():
    assert len(BY_ID) == len(CASES) == 46
    covered = [case_id for ids in ISSUE_ITEMS.values() for case_id in ids]
    assert set(covered) <= set(BY_ID)
    assert sorted(set(BY_ID) - set(covered)) == [
        "broken_symlink",
        "folder_named_png",
    ]


def test_every_repository_config_passes_the_schema():
    paths = sorted((REPO / "config").glob("*.yaml"))
    assert {"config.yaml", "demo-full.yaml", "luna16.yaml", "test.yaml"} <= {p.name for p in paths}
    for path in paths:
        config = yaml.safe_load(path.read_text())
        check_schema(config, SCHEMA)
        check_config(config)


def test_schema_problems_are_all_listed_together(tmp_path, monkeypatch):
    config = _config(lambda c: c.update(bootstarp=1))(tmp_path, monkeypatch)
    config["regions"]["k"] = [-1]
    config["backbones"]["resnet51"] = {}
    with pytest.raises(InputError, match=r"config: 3 problem\(s\) found") as info:
        check_schema(config, SCHEMA)
    assert len(str(info.value).splitlines()) == 4


# --- through the workflow -------------------------------------------------------------------


def _workflow(workdir: Path, config: dict, *targets: str) -> tuple[int, str]:
    """Run Snakemake on ``config`` (a dry run without ``targets``); exit status and output."""
    path = workdir / "config file.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["--cores", "1", *targets] if targets else ["-n"]
    proc = snakemake(workdir / "work dir", "--configfile", str(path), *args, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.workflow
@pytest.mark.parametrize("case_id", ["misspelt_section_key", "negative_k", "unknown_backbone"])
def test_workflow_refuses_bad_config_in_one_message(case_id, tmp_path, monkeypatch):
    case = BY_ID[case_id]
    code, out = _workflow(tmp_path, case.build(tmp_path, monkeypatch))
    assert code != 0
    assert "config: 1 problem(s) found" in out and all(f in out for f in case.expect), out
    assert "Traceback" not in out and "Failed validating" not in out  # no schema dump
    assert not (tmp_path / "work dir" / "results").exists()


@pytest.mark.workflow
def test_workflow_ingest_names_the_bad_image_and_writes_nothing(tmp_path, monkeypatch):
    case = BY_ID["truncated_png"]
    config = {"datasets": {"db1": case.build(tmp_path, monkeypatch)}, "backbones": {"lbp": {}}}
    code, out = _workflow(tmp_path, config, "results/db1/manifest.tsv")
    assert code != 0
    assert "medimprint: error: dataset 'db1': 1 problem(s)" in out
    assert all(fragment in out for fragment in case.expect), out
    assert "Traceback" not in out
    results = tmp_path / "work dir" / "results" / "db1"
    assert not results.exists() or list(results.iterdir()) == []  # no manifest, no temp file


@pytest.mark.workflow
def test_workflow_takes_paths_with_spaces_and_shell_metacharacters(tmp_path, monkeypatch):
    config = {"datasets": {"db1": _odd_root(tmp_path, monkeypatch)}, "backbones": {"lbp": {}}}
    code, out = _workflow(tmp_path, config, "results/db1/manifest.tsv")
    assert code == 0, out
    manifest = read_manifest(tmp_path / "work dir" / "results" / "db1" / "manifest.tsv")
    _paths_exist(manifest)
    assert len(manifest) == 8
    assert not list(tmp_path.rglob("PWNED"))

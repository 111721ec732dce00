"""Tests for medimprint.io: atomic writes, PNG validation, tables and HDF5 stores."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medimprint.errors import InputError
from medimprint.io import (
    atomic_path,
    read_gray_png,
    read_store,
    read_table,
    write_gray_png,
    write_store,
    write_table,
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def test_atomic_path_honours_umask_and_cleans_up(tmp_path):
    old = os.umask(0o022)
    try:
        write_table(tmp_path / "t.tsv", pd.DataFrame({"a": ["1"]}))
    finally:
        os.umask(old)
    assert (tmp_path / "t.tsv").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600

    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("partial")
        raise RuntimeError("crash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tsv"]


def test_gray_png_roundtrip(tmp_path):
    image = np.arange(48, dtype=np.uint8).reshape(6, 8)
    write_gray_png(tmp_path / "a.png", image)
    np.testing.assert_array_equal(read_gray_png(tmp_path / "a.png"), image)
    with pytest.raises(ValueError, match="2-D uint8"):
        write_gray_png(tmp_path / "b.png", image.astype(np.float32))


def test_huge_png_header_is_an_input_error(tmp_path):
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b""))
    with pytest.raises(InputError, match=r"huge\.png: image header declares more than"):
        read_gray_png(path)


def test_equal_channel_palette_warns_and_transparency_fails(tmp_path):
    gray = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    Image.fromarray(np.stack([gray] * 3, -1)).convert("P").save(tmp_path / "p.png")
    with pytest.warns(UserWarning, match="equal channels"):
        assert read_gray_png(tmp_path / "p.png").shape == (4, 4)
    rgba = np.stack([gray, gray, gray, np.full_like(gray, 128)], -1)
    Image.fromarray(rgba).save(tmp_path / "t.png")
    with pytest.raises(InputError, match=r"t\.png: RGBA image has transparent pixels"):
        read_gray_png(tmp_path / "t.png")


def test_missing_png_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"nope\.png: file not found"):
        read_gray_png(tmp_path / "nope.png")


def test_tables_keep_strings(tmp_path):
    table = pd.DataFrame({"id": ["007", "NA"], "label": ["", "1"]})
    write_table(tmp_path / "t.tsv", table)
    back = read_table(tmp_path / "t.tsv")
    assert back.to_dict("list") == {"id": ["007", "NA"], "label": ["", "1"]}
    write_table(tmp_path / "t.csv", table, header=False)
    assert Path(tmp_path / "t.csv").read_text().splitlines()[0] == "007,"


def test_store_roundtrip_reorders_and_checks_ids(tmp_path):
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_store(tmp_path / "s.h5", ["a", "b", "c"], {"x": features}, {"backbone": "lbp"})
    ids, arrays, attrs = read_store(tmp_path / "s.h5", ["x"], ids=["c", "a"])
    assert ids == ["c", "a"] and attrs["backbone"] == "lbp"
    np.testing.assert_array_equal(arrays["x"], features[[2, 0]])
    with pytest.raises(InputError, match="ids missing from the store"):
        read_store(tmp_path / "s.h5", ["x"], ids=["zz"])
    with pytest.raises(ValueError, match="duplicate ids"):
        write_store(tmp_path / "d.h5", ["a", "a"], {"x": features[:2]})

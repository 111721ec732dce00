"""The workflow at the task's scale before any job runs: 30,000 PNGs of 256 x 256 over four
datasets in the task's layout (three membership databases, one attribution set; file names
repeated across role folders), given as a user's own data (no build).

Prints, as a markdown table: the wall time of a dry run of the whole workflow (Snakemake's own
planning: parsing, globbing, the DAG), the wall time of one dataset's ingest, and the size of
Snakemake's output when that ingest fails on one corrupt PNG (what a user reads).

The images are hard links to 64 rendered phantom slices, so the layout costs 3 MB of disk;
ingest still opens and decodes every file.

    .venv/bin/python benchmarks/ingest_at_scale.py [--scale 1.0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from medimprint.benchmark.phantom import phantom_slices
from medimprint.io import write_gray_png

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
#: Images per role folder at scale 1: 3 x 8,000 + 6,000 = 30,000.
MEMBERSHIP = {"generated": 5000, "real_used": 1000, "real_not_used": 1000, "real_unknown": 1000}
ATTRIBUTION = {"train/model_1": 1000, "train/model_2": 1000, "train/model_3": 1000, "test": 3000}


def make_layout(root: Path, scale: float) -> dict:
    """Write the four datasets under ``root``; return their config entries."""
    images, _ = phantom_slices(8, 8, 256, seed=0)
    pool = root / "pool"
    for i, image in enumerate(images):
        write_gray_png(pool / f"{i}.png", image)
    datasets, n = {}, 0

    def fill(folder: Path, count: int) -> None:
        nonlocal n
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(max(2, round(count * scale))):
            os.link(pool / f"{n % len(images)}.png", folder / f"image_{i:05d}.png")
            n += 1

    for db in ("db1", "db2", "db3"):
        for role, count in MEMBERSHIP.items():
            fill(root / db / role, count)
        unknown = sorted(p.name for p in (root / db / "real_unknown").iterdir())
        rows = [f"{name},{i % 2}" for i, name in enumerate(unknown)]
        (root / db / "test_labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
        datasets[db] = {
            "root": str(root / db),
            "membership": {role: f"{role}/*.png" for role in MEMBERSHIP}
            | {"test_labels": "test_labels.csv"},
        }
    for folder, count in ATTRIBUTION.items():
        fill(root / "gans" / folder, count)
    test = sorted(p.name for p in (root / "gans" / "test").iterdir())
    rows = [f"{name},model_{i % 3 + 1}" for i, name in enumerate(test)]
    (root / "gans" / "test_labels.csv").write_text("file,model\n" + "\n".join(rows) + "\n")
    generators = {f"model_{k}": f"train/model_{k}/*.png" for k in (1, 2, 3)}
    datasets["gans"] = {
        "root": str(root / "gans"),
        "attribution": {
            "generators": generators,
            "test": "test/*.png",
            "test_labels": "test_labels.csv",
            "test_generators": 3,
        },
    }
    return {"datasets": datasets, "backbones": {"lbp": {}}}


def snakemake(workdir: Path, config: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run the workflow on ``config`` (its targets before --configfile, which takes several)."""
    where = ("-s", str(REPO / "Snakefile"), "-d", str(workdir))
    start = time.perf_counter()
    proc = subprocess.run(
        [str(SNAKEMAKE), *where, *args, "--configfile", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - start, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 30,000 images")
    parser.add_argument("--keep", type=Path, help="build the layout here and keep it")
    parser.add_argument("--show", action="store_true", help="print the failing run's output")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        config = make_layout(root / "data", args.scale)
        pngs = (root / "data").glob("*/**/*.png")
        total = sum(1 for path in pngs if path.parent.name != "pool")  # not the link sources
        path = root / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        work = root / "work"
        dry_s, dry = snakemake(work, path, "-n", "--quiet", "rules")
        if dry.returncode != 0:
            raise SystemExit(dry.stderr[-3000:])
        ingest_s, ok = snakemake(work, path, "--cores", "2", "results/db1/manifest.tsv")
        if ok.returncode != 0:
            raise SystemExit(ok.stderr[-3000:])
        (root / "data/db2/generated/image_99999.png").write_text("not a png")
        failed_s, failed = snakemake(work, path, "--cores", "2", "results/db2/manifest.tsv")
        output = failed.stdout + failed.stderr
        print(f"images: {total} over 4 datasets", file=sys.stderr)
        print("| measure | value |\n|---|---|")
        print(f"| dry run of the whole workflow, wall | {dry_s:.1f} s |")
        print(
            f"| ingest of db1 ({sum(MEMBERSHIP.values()) * args.scale:.0f} images), wall | "
            f"{ingest_s:.1f} s |"
        )
        print(f"| failing ingest of db2: exit status | {failed.returncode} |")
        print(
            f"| failing ingest of db2: output | {len(output.splitlines())} lines, "
            f"{len(output.encode())} bytes, {failed_s:.1f} s |"
        )
        if args.show:
            print(output, file=sys.stderr)


if __name__ == "__main__":
    main()

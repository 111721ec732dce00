"""Feature extraction: throughput and peak memory against the number of images.

Writes N procedural CT-like 8-bit PNGs (the demo phantom) to a temporary folder and extracts
features from them in a fresh process per (backbone, N), printing images/s and the process's
peak resident memory. Extraction streams images in batches, so peak memory should grow with
the batch size, not with N.

    .venv/bin/python benchmarks/feature_extraction.py --sizes 1000 4000 --backbones lbp dct
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from medimprint.demo import phantom_slices
from medimprint.io import write_gray_png

CHILD = """
import json, resource, sys, time
import pandas as pd
from medimprint.backbones import build_extractor
from medimprint.features import extract_to_store
args = json.loads(sys.argv[1])
extractor = build_extractor(args["backbone"], args["weights"], input_size=args["input_size"])
manifest = pd.read_csv(args["manifest"], sep="\\t", dtype=str).head(args["n"])
start = time.perf_counter()
extract_to_store(manifest, args["out"], extractor, batch_size=args["batch_size"])
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))
"""


def write_images(folder: Path, n: int, size: int) -> Path:
    """N phantom slices as PNGs and a manifest (id, path) listing them."""
    patients = max(2, n // 50)
    images, meta = phantom_slices(patients, -(-n // patients), size, seed=0)
    rows = []
    for image, id_ in zip(images[:n], meta["id"][:n], strict=True):
        path = folder / f"{id_}.png"
        write_gray_png(path, image)
        rows.append((id_, str(path)))
    manifest = folder / "manifest.tsv"
    pd.DataFrame(rows, columns=["id", "path"]).to_csv(manifest, sep="\t", index=False)
    return manifest


def measure(args: dict) -> dict:
    """Run one extraction in a fresh interpreter; return its time and peak memory."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--backbones", nargs="+", default=["lbp", "dct", "efficientnet_lite0"])
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    opts = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_images(Path(tmp), max(opts.sizes), opts.image_size)
        for backbone in opts.backbones:
            for n in opts.sizes:
                result = measure(
                    {
                        "backbone": backbone,
                        "weights": opts.weights,
                        "input_size": opts.input_size,
                        "manifest": str(manifest),
                        "n": n,
                        "out": str(Path(tmp) / f"{backbone}-{n}.h5"),
                        "batch_size": opts.batch_size,
                    }
                )
                rows.append(
                    {
                        "backbone": backbone,
                        "images": n,
                        "batch_size": opts.batch_size,
                        "seconds": round(result["seconds"], 1),
                        "images_per_s": round(n / result["seconds"], 1),
                        "peak_rss_mb": round(result["peak_rss_mb"]),
                    }
                )
                print(f"done: {backbone} x {n}", file=sys.stderr, flush=True)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()

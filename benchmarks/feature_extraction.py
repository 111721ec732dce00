"""Feature extraction: workflow throughput against the raw forward pass of the same model.

Writes N procedural CT-like 8-bit PNGs (the demo phantom) to a temporary folder and, in a fresh
process per (backbone, N), times the library call the workflow's ``extract_features`` rule makes
(`medimprint.features.stores.extract_to_store`: PNG decoding, preprocessing, forward pass and
the HDF5 write), after building the extractor and two warm-up batches. For the torch backbones
(those `build_extractor` returns as a `TorchExtractor`) the same process then times the raw forward
pass of the same model on the same device, batch size and fp32 precision: N preprocessed
float32 ``batch x 3 x S x S`` channels-last tensors already on the device, ``model(x)`` under
``torch.inference_mode()`` after two warm-up batches (synchronised on CUDA). ``ratio`` is the
workflow's images/s over the raw forward's; the issue's targets are >= 0.8 on GPU and >= 0.7
on CPU. The non-torch backbones (lbp, dct, spectrum_residual, pixels) get the workflow time only.

The workflow time includes one-off costs inside `extract_to_store`: notably
`TorchExtractor.describe` imports torchvision (about 1.4 s; efficientnet_lite0 is built without
it, the torchvision CNNs pay it in ``setup_s``). ``--steady-state`` calls ``describe()`` during
set-up so that only the per-image work is timed; without it, use N large enough to amortise it.
Peak RSS is the main process's peak after the workflow path (DataLoader worker processes are
not counted); ``peak_gpu_mb`` is torch's peak allocation. Weights do
not change the computation, so ``--weights auto`` (the default) takes ImageNet weights for
efficientnet_lite0 (bundled, offline) and random weights for the other CNNs (whose ImageNet
weights need a download); ``--config`` takes weights, input size and batch size per backbone
from a workflow config instead, as the rule does. As the rule, the job gets ``--threads 2``
(OMP/BLAS/torch threads, set before torch is imported) and, by default, ``threads - 1``
DataLoader workers on CUDA and none on the CPU (`features.loader_workers`).

    .venv/bin/python benchmarks/feature_extraction.py --sizes 1000 4000 --backbones lbp dct
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from fresh_process import measure

from medimprint.benchmark.phantom import phantom_slices
from medimprint.features.registry import get_spec
from medimprint.io import write_gray_png

#: The luna16 config's backbones: the torch CNNs, then the fingerprints and pixels.
BACKBONES = [
    "efficientnet_lite0",
    "resnet50",
    "densenet121",
    "lbp",
    "dct",
    "spectrum_residual",
    "pixels",
]
#: ``threads:`` of the workflow's extract_features rule.
RULE_THREADS = 2
#: Minimum workflow / raw-forward throughput ratio, by device type (the issue's targets).
TARGETS = {"cuda": 0.8, "cpu": 0.7}

CHILD = """
import json, os, resource, sys, time
args = json.loads(sys.argv[1])
if args["threads"]:  # as the workflow's job(): OMP_NUM_THREADS before torch is imported
    from medimprint.runtime.jobs import setup_job
    setup_job(None, args["threads"])
import numpy as np
import pandas as pd
import torch
from medimprint.features.extractors import TorchExtractor, _ieee_fp32, build_extractor
from medimprint.features.stores import extract_to_store
n, batch = args["n"], args["batch_size"]
start = time.perf_counter()
extractor = build_extractor(
    args["backbone"], args["weights"], device=args["device"], input_size=args["input_size"]
)
device = extractor.device
is_torch = isinstance(extractor, TorchExtractor)
cuda = device.startswith("cuda")
def sync():
    if cuda:
        torch.cuda.synchronize(device)
warm = np.zeros((batch, args["image_size"], args["image_size"]), np.uint8)
for _ in range(2):
    extractor(warm)
if args["steady_state"]:  # one-off imports of the store's attributes (torchvision for lite0)
    extractor.describe()
setup_s = time.perf_counter() - start
workers = args["num_workers"]
if workers is None:  # as the workflow script: loader_workers(the rule's threads, device)
    from medimprint.features.stores import loader_workers
    workers = loader_workers(args["threads"] or os.cpu_count(), device)
manifest = pd.read_csv(args["manifest"], sep="\\t", dtype=str).head(n)
start = time.perf_counter()
extract_to_store(
    manifest, args["out"], extractor, batch_size=batch, num_workers=workers
)
workflow_s = time.perf_counter() - start
out = {
    "device": device,
    "num_workers": workers,
    "input_size": extractor.input_size,
    "setup_s": setup_s,
    "workflow_s": workflow_s,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
    "raw_s": None,
}
if is_torch:
    size = extractor.input_size
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, 3, size, size, device=device, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    sizes = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    with torch.inference_mode(), _ieee_fp32(device):
        for _ in range(2):
            extractor.model(x)
        sync()
        start = time.perf_counter()
        for rows in sizes:
            extractor.model(x[:rows])
        sync()
        out["raw_s"] = time.perf_counter() - start
print(json.dumps(out))
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


def settings(backbone: str, opts: argparse.Namespace, config: dict) -> dict:
    """Weights, input size and batch size of one backbone: the command line's, else the
    workflow config's (``--config``), else the defaults (``auto`` weights, batch 32)."""
    entry = config.get(backbone) or {}
    weights = opts.weights
    if weights == "auto":
        weights = entry.get("weights")
    if weights in (None, "auto"):
        weights = "imagenet" if backbone == "efficientnet_lite0" else "random"
    if not get_spec(backbone).needs_torch:
        weights = "none"
    return {
        "weights": weights,
        "input_size": opts.input_size or entry.get("input_size"),
        "batch_size": opts.batch_size or entry.get("batch_size") or 32,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--backbones", nargs="+", default=BACKBONES)
    parser.add_argument(
        "--weights",
        default="auto",
        help="imagenet, random, a checkpoint path, or auto (default): imagenet for "
        "efficientnet_lite0, random for the other CNNs (or the --config's weights)",
    )
    parser.add_argument("--config", help="workflow config whose backbones section to follow")
    parser.add_argument("--image-size", type=int, default=256, help="side of the PNGs")
    parser.add_argument("--input-size", type=int, default=None, help="default: the backbone's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="DataLoader worker processes (default: as the workflow, threads - 1 on CUDA, "
        "0 on the CPU)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=RULE_THREADS,
        help=f"CPU threads of the job (default {RULE_THREADS}, the rule's threads:); 0: "
        "torch's default (all cores)",
    )
    parser.add_argument(
        "--steady-state",
        action="store_true",
        help="do extract_to_store's one-off imports during set-up, untimed",
    )
    opts = parser.parse_args()
    config = {}
    if opts.config:
        config = (yaml.safe_load(Path(opts.config).read_text()) or {}).get("backbones") or {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_images(Path(tmp), max(opts.sizes), opts.image_size)
        for backbone in opts.backbones:
            chosen = settings(backbone, opts, config)
            for n in opts.sizes:
                result = measure(
                    CHILD,
                    {
                        "backbone": backbone,
                        **chosen,
                        "device": opts.device,
                        "num_workers": opts.num_workers,
                        "threads": opts.threads,
                        "steady_state": opts.steady_state,
                        "image_size": opts.image_size,
                        "manifest": str(manifest),
                        "n": n,
                        "out": str(Path(tmp) / f"{backbone}-{n}.h5"),
                    },
                    f"{backbone} x {n}",
                )
                workflow = n / result["workflow_s"]
                raw = n / result["raw_s"] if result["raw_s"] else None
                rows.append(
                    {
                        "backbone": backbone,
                        "weights": chosen["weights"],
                        "device": result["device"],
                        "input_size": result["input_size"],
                        "images": n,
                        "batch_size": chosen["batch_size"],
                        "num_workers": result["num_workers"],
                        "setup_s": round(result["setup_s"], 1),
                        "workflow_images_per_s": round(workflow, 1),
                        "raw_forward_images_per_s": round(raw, 1) if raw else None,
                        "ratio": round(workflow / raw, 2) if raw else None,
                        "peak_rss_mb": round(result["peak_rss_mb"]),
                        "peak_gpu_mb": (
                            round(result["peak_gpu_mb"]) if result["peak_gpu_mb"] else None
                        ),
                    }
                )
                print(f"done: {backbone} x {n}", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    print(table.astype(object).where(table.notna(), "").to_markdown(index=False))
    print()
    print("targets: ratio >= " + ", ".join(f"{v} on {k}" for k, v in TARGETS.items()))
    torch_rows = table.dropna(subset=["ratio"])
    for row in torch_rows.itertuples():
        target = TARGETS["cuda" if row.device.startswith("cuda") else "cpu"]
        verdict = "meets" if row.ratio >= target else "BELOW"
        print(f"  {row.backbone} x {row.images} on {row.device}: {row.ratio} {verdict} {target}")


if __name__ == "__main__":
    main()

"""Membership stages that scale with the number of generated images: time and peak memory of
the cluster-distance clustering (all 30 default k) and of the feature-space attacks, against N.

Features are synthetic (a Gaussian mixture, float64 like the standardised feature splits) of
the given dimension (2048: ResNet-50 features; 1024: the 32 x 32 pixel space). Each
(stage, dim, N) runs in a fresh process, which prints the stage's seconds and its peak resident
memory (``data_rss_mb``: the peak before the stage, i.e. mostly the features themselves).
``growth`` is the time over the previous N's and ``exponent`` its log over the log of the size
ratio: about 1 for linear stages, 2 where the N x N (or queries x N) work dominates.

Stages, as the workflow runs them (`cluster_distances.run_regions`, `attack_runs.run_attack`):

- ``hierarchical``: one ward dendrogram of the N generated rows cut at every k; above
  ``--max-points`` it clusters a seeded subsample and assigns the rest (several values may be
  given, e.g. ``--max-points 10000 20000`` to compare subsample-and-assign with the full 16k
  dendrogram);
- ``kmeans``: k-means (3 inits) for every k;
- ``gan_leaks``: nearest generated and nearest reference distances of the training and the
  test queries;
- ``monte_carlo``: `choose_epsilon` on the labelled training queries, then the epsilon-ball
  fractions of the training and test queries;
- ``domias``: PCA on generated + reference, then the two Gaussian KDEs at every query;
- ``aligned_nearest``: the nearest generated image of each query, window-normalised, at every
  largest shift the run offers (`attacks.ALIGN_SHIFTS`: 0 and 1, from the nearest distances of
  the 3 x 3 moves); square dims only (1024: the 32 x 32 pixel space);
- ``real_calibrated``: nearest generated and nearest other real image of the same split, then
  both calibrations.

The real queries (``--queries``, half labelled training, half test) and the reference
(``--reference`` not-used training images, scored leave-one-out) stay fixed while N grows.

    .venv/bin/python benchmarks/membership_scaling.py --sizes 1000 4000 16000 --dims 2048
"""

from __future__ import annotations

import argparse
import math
import sys

import pandas as pd
from fresh_process import measure

STAGES = (
    "hierarchical",
    "kmeans",
    "gan_leaks",
    "monte_carlo",
    "domias",
    "aligned_nearest",
    "real_calibrated",
)

CHILD = """
import json, resource, sys, time
import numpy as np
from medimprint.membership.attacks import (
    choose_epsilon, domias_scores, gan_leaks_scores, monte_carlo_scores,
)
from medimprint.membership.calibrations import aligned_nearest_variants, real_calibrated_variants
from medimprint.membership.regions import RegionSetup, cluster_centroids
from medimprint.names import REGION_KS
args = json.loads(sys.argv[1])
n, dim, queries, n_ref = args["n"], args["dim"], args["queries"], args["reference"]
rng = np.random.default_rng(0)
centres = rng.normal(size=(40, dim)).astype(np.float32)
gen = centres[rng.integers(0, 40, n)] + rng.normal(size=(n, dim)).astype(np.float32)
gen = gen.astype(np.float64)  # as the standardised feature splits
real = centres[rng.integers(0, 40, queries)] + rng.normal(size=(queries, dim)).astype(np.float32)
real = real.astype(np.float64)
n_train = queries // 2
labels = (np.arange(n_train) >= n_ref).astype(int)  # the first n_ref: not used (the reference)
used = np.flatnonzero(labels == 1)
real[used] = gen[rng.integers(0, n, len(used))] + 0.1 * rng.normal(size=(len(used), dim))
train, test = real[:n_train], real[n_train:]
ids = [f"q{i}" for i in range(queries)]
train_ids, test_ids = ids[:n_train], ids[n_train:]
reference, reference_ids = train[:n_ref], train_ids[:n_ref]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
stage = args["stage"]
start = time.perf_counter()
if stage in ("hierarchical", "kmeans"):
    setup = RegionSetup(method=stage, max_points=args["max_points"])
    cluster_centroids(gen, list(REGION_KS), setup)
elif stage == "aligned_nearest":
    aligned_nearest_variants(train, gen)
    aligned_nearest_variants(test, gen)
elif stage == "real_calibrated":
    real_calibrated_variants(train, gen, train, train_ids, train_ids)
    real_calibrated_variants(test, gen, test, test_ids, test_ids)
elif stage == "monte_carlo":
    epsilon, _ = choose_epsilon(train, labels, gen)
    monte_carlo_scores(train, gen, epsilon)
    monte_carlo_scores(test, gen, epsilon)
else:
    attack = gan_leaks_scores if stage == "gan_leaks" else domias_scores
    attack(train, gen, reference, train_ids, reference_ids)
    attack(test, gen, reference, test_ids, reference_ids)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "data_rss_mb": before}))
"""


def with_growth(rows: list[dict]) -> pd.DataFrame:
    """The rows as a table plus, per (stage, max_points, dim), the time ratio to the previous N
    and its exponent."""
    growth, exponent = [], []
    previous: dict[tuple, tuple[int, float]] = {}
    for row in rows:
        key = (row["stage"], row["max_points"], row["dim"])
        n, seconds = row["generated"], row["seconds"]
        ratio = exponent_ = math.nan
        if key in previous and n > previous[key][0] and previous[key][1] > 0:
            n0, s0 = previous[key]
            ratio = seconds / s0
            exponent_ = math.log(ratio) / math.log(n / n0)
        growth.append(ratio)
        exponent.append(exponent_)
        previous[key] = (n, seconds)
    return pd.DataFrame(rows).assign(growth=growth, exponent=exponent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--dims", type=int, nargs="+", default=[2048], help="1024: the pixel space")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument(
        "--max-points",
        type=int,
        nargs="+",
        default=[10_000],
        help="hierarchical: dendrogram size cap(s); one row set per value",
    )
    parser.add_argument("--queries", type=int, default=2000, help="real images scored")
    parser.add_argument("--reference", type=int, default=500, help="not-used training images")
    args = parser.parse_args()
    if not 0 < args.reference < args.queries // 2:
        parser.error("--reference must be positive and below half of --queries")
    rows = []
    for dim in args.dims:
        for stage in args.stages:
            if stage == "aligned_nearest" and math.isqrt(dim) ** 2 != dim:
                print(f"skipped: aligned_nearest needs a square dim, not {dim}", file=sys.stderr)
                continue
            caps = args.max_points if stage == "hierarchical" else [None]
            for cap in caps:
                for n in sorted(args.sizes):
                    spec = {
                        "n": n,
                        "dim": dim,
                        "stage": stage,
                        "max_points": cap or 10_000,
                        "queries": args.queries,
                        "reference": args.reference,
                    }
                    result = measure(CHILD, spec, f"{stage} N={n}")
                    rows.append(
                        {"stage": stage, "max_points": cap, "dim": dim, "generated": n, **result}
                    )
                    print(
                        f"done: {stage} max_points={cap} dim={dim} N={n}: "
                        f"{result['seconds']:.2f} s, peak {result['peak_rss_mb']:.0f} MB",
                        file=sys.stderr,
                        flush=True,
                    )
    table = with_growth(rows)
    print(f"queries {args.queries} (half training, half test), reference {args.reference}")
    table = table.round(
        {"seconds": 2, "peak_rss_mb": 0, "data_rss_mb": 0, "growth": 2, "exponent": 2}
    )
    print(table.astype(object).where(table.notna(), "").to_markdown(index=False))


if __name__ == "__main__":
    main()

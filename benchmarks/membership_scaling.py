"""Cluster-distance membership: time and peak memory of clustering N generated images' features
for the 30 default k, against N.

Features are synthetic (a Gaussian mixture, float32 like the feature stores) of the given
dimension; each (method, N) runs in a fresh process, which prints the seconds for all 30 k and
its peak resident memory. Hierarchical clustering builds one dendrogram and cuts it at every k;
above ``max_points`` it clusters a subsample and assigns the rest.

    .venv/bin/python benchmarks/membership_clustering.py --sizes 1000 4000 10000 --dim 2048
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pandas as pd

CHILD = """
import json, resource, sys, time
import numpy as np
from medimprint.cluster_distances import DEFAULT_KS, RegionSetup, cluster_centroids
args = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
centres = rng.normal(size=(40, args["dim"])).astype(np.float32)
noise = rng.normal(size=(args["n"], args["dim"])).astype(np.float32)
x = (centres[rng.integers(0, 40, args["n"])] + noise).astype(np.float64)  # as run_regions
del noise
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
setup = RegionSetup(method=args["method"], max_points=args["max_points"])
start = time.perf_counter()
centroids = cluster_centroids(x, list(DEFAULT_KS), setup)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "data_rss_mb": before,
                  "ks": len(centroids)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 10000])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--methods", nargs="+", default=["hierarchical", "kmeans"])
    parser.add_argument("--max-points", type=int, default=10_000)
    args = parser.parse_args()
    rows = []
    for method in args.methods:
        for n in args.sizes:
            spec = {"n": n, "dim": args.dim, "method": method, "max_points": args.max_points}
            out = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps(spec)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"method": method, "images": n, "dim": args.dim, **result})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1))
    print()
    print(pd.DataFrame(rows).round(1).to_markdown(index=False))


if __name__ == "__main__":
    main()

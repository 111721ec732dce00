"""The membership answer's cost: `selection.select` (choice by cross-validated AUC on grouped
folds, guarded against the baseline by a nested choice, then the nested estimate of the whole)
against the number of labelled images and of candidates.

Candidate scores are synthetic (pure noise but for one informative column, and a pure-noise
baseline that the informative column must beat), as the workflow
hands them over once every run has written its candidates; groups are blocks of 4 images. Each
(images, candidates) pair runs in a fresh process, which prints its seconds and peak resident
memory. The workflow's own figure: 5.4 s for 1,115 candidates of 32 labelled and 34 test
images (`results/benchmarks/membership_selected/luna16_mixed_db1.tsv`).

    .venv/bin/python benchmarks/membership_selection.py --images 100 400 1600 --candidates 1000 4000
"""

from __future__ import annotations

import argparse

import pandas as pd
from fresh_process import measure

CODE = """
import json, resource, sys, time
import numpy as np, pandas as pd
from medimprint.data.views import MembershipView
from medimprint.membership.selection import BASELINE, candidate_table, select
args = json.loads(sys.argv[1])
n, c = args["images"], args["candidates"]
rng = np.random.default_rng(0)
labels = np.repeat([1, 0], n // 2)
ids = [f"r{i}" for i in range(n)]
test = [f"t{i}" for i in range(n // 2)]
groups = pd.Series([f"b{i // 4}" for i in range(n)] + [f"t{i // 4}" for i in range(n // 2)],
                   index=ids + test)
train = pd.DataFrame({"id": ids, "label": labels})
tables = [candidate_table(f"c{j}", ids, rng.normal(size=n) + (labels if j == 0 else 0), test,
                          rng.normal(size=len(test))) for j in range(c)]
tables.append(candidate_table(BASELINE, ids, rng.normal(size=n), test, rng.normal(size=len(test))))
candidates = pd.concat(tables, ignore_index=True)
start = time.perf_counter()
chosen = select(candidates, MembershipView(train, test, groups=groups), n_boot=1000)
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": rss, "chosen": chosen.choice.candidate}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[100, 400, 1600])
    parser.add_argument("--candidates", type=int, nargs="+", default=[1000])
    args = parser.parse_args()
    rows = []
    for n in args.images:
        for c in args.candidates:
            out = measure(CODE, {"images": n, "candidates": c}, f"{n} images x {c} candidates")
            rows.append({"labelled_images": n, "candidates": c, **out})
    print(pd.DataFrame(rows).to_string(index=False, float_format="%.2f"))


if __name__ == "__main__":
    main()

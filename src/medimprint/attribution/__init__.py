"""Sub-task 2, attribution: cluster synthetic images by the generator that made them.

Modules: `runs` (one run of the grid: reduce, cluster, evaluate, submit), `selection` (the answer
with k unknown, its clusters named), `k_estimation` (the number of generators when it is
unknown), `metric_learning` (a feature metric learned on the labelled generators).
"""

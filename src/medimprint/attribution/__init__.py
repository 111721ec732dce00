"""Sub-task 2, attribution: cluster synthetic images by the generator that made them.

Modules: `runs` (one run of the grid: reduce, cluster, evaluate, submit), `selection` (the answer
with k unknown, its clusters named), `k_estimation` (the number of generators when it is
unknown), `metric_learning` (a feature metric learned on the labelled generators).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "k_estimation": ["laplacian_spectrum", "estimate_k"],
        "metric_learning": ["GeneratorMetric"],
        "runs": [
            "AttributionSetup",
            "split_rows",
            "parse_run_id",
            "robustness_images",
            "run_id",
            "reduce_splits",
            "choose_k",
            "run_attribution",
            "submission",
        ],
        "selection": [
            "heldout_generator_ari",
            "agreement",
            "Choice",
            "choose",
            "name_clusters",
            "naming_accuracy",
            "Selection",
            "select",
            "summary",
        ],
    },
)

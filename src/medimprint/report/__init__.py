"""The Snakemake report: HTML tables and the figures of each section.

Modules: `tables` (the HTML tables), `attribution_figures`, `membership_figures`.
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "attribution_figures": [
            "embed_2d",
            "save_figure",
            "colour_indices",
            "embedding_figure",
            "examples_figure",
            "write_attribution_figures",
        ],
        "membership_figures": [
            "score_histograms",
            "auc_against_k",
            "region_figure_data",
            "roc_figure",
            "training_curve",
            "error_examples",
        ],
        "tables": [
            "format_value",
            "attribution_table",
            "robustness_table",
            "best_attribution_run",
            "regions_table",
            "attacks_table",
            "membership_selection_table",
            "selected_table",
            "selected_notes",
            "segmentation_table",
            "metrics_html",
        ],
    },
)

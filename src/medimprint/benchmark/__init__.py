"""Benchmarks with known answers: the demo's phantom CT slices, real slices split into the task's
folder layout, and the small generator families trained on them.

Modules: `phantom` (procedural CT-like slices), `slices` (real slices and their meta), `split`
(membership pools by whole groups), `layout` (the task's folders), `generators` (the
generator families: training, sampling, checkpoints) and `generator_networks` (their networks).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "generator_networks": [
            "VAE",
            "DCGenerator",
            "DCDiscriminator",
            "UpconvGenerator",
            "SNDiscriminator",
            "build_network",
            "PCAGaussian",
        ],
        "generators": ["TrainedGenerator", "load_generator", "train_generator"],
        "layout": [
            "attribution_sets",
            "attribution_model",
            "training_rows",
            "generator_plan",
            "write_layout",
        ],
        "phantom": ["phantom_slices"],
        "slices": ["has_reference_lungs", "load_slices"],
        "split": ["split_real"],
    },
)

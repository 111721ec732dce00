"""Benchmarks with known answers: the demo's phantom CT slices, real slices split into the task's
folder layout, and the small generator families trained on them.

Modules: `phantom` (procedural CT-like slices), `build` (real slices, the split and the layout
writer), `generators` (the generator families).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "build": [
            "has_reference_lungs",
            "load_slices",
            "split_real",
            "generator_plan",
            "write_layout",
        ],
        "generators": ["TrainedGenerator", "load_generator", "train_generator"],
        "phantom": ["phantom_slices"],
    },
)

"""What every job shares: set-up (logging, threads, device, clean errors), torch helpers,
checkpoints and progress lines.

Modules: `jobs` (`with job(snakemake)`), `tensors` (torch helpers of the image models),
`checkpoints` (weights-only model files), `progress` (rate and time left in the logs).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "checkpoints": ["save_model", "load_model"],
        "jobs": ["setup_job", "job", "pick_device"],
        "progress": ["duration", "Progress"],
        "tensors": [
            "check_images",
            "as_input",
            "batched_inference",
            "padded_forward",
            "build_monai",
            "total_stride",
        ],
        "training": ["train_epochs", "deterministic", "holdout_split", "EarlyStopping"],
    },
)

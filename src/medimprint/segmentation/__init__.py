"""Lung masks: the classical segmenter, the UNet trained on its masks, and their quality checks.

Modules: `classical` (thresholds and morphology, no weights; the crops), `unet` (a MONAI UNet),
`quality` (agreement with reference lungs, the segmentation report).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "classical": [
            "segment_lungs",
            "bounding_box",
            "box_iou",
            "crop_region",
            "segment_to_store",
            "write_masks",
            "RegionCrop",
        ],
        "quality": [
            "reference_lungs",
            "agreement",
            "store_agreement",
            "agreement_summary",
            "mask_dice",
            "pick_examples",
            "overlay_figure",
            "segmentation_report",
        ],
        "unet": [
            "build_unet",
            "train_unet",
            "predict_masks",
            "training_set",
            "predict_to_store",
            "save_checkpoint",
            "load_checkpoint",
        ],
    },
)

"""Lung masks: the classical segmenter, the UNet trained on its masks, and their quality checks.

Modules: `classical` (thresholds and morphology, no weights; the crops), `unet` (a MONAI UNet),
`quality` (agreement with reference lungs, the segmentation report).
"""

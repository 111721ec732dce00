"""Image features: ImageNet CNNs, EfficientNet-Lite0, LBP, frequency fingerprints and raw pixels,
extracted in batches into HDF5 feature stores.

Modules: `registry` (the backbones by name), `weights` (ImageNet, packaged or local weights),
`networks` (torchvision and EfficientNet-Lite0 trunks), `extractors` (images to features),
`fingerprints` (frequency-domain fingerprints), `perturbations` (post-processing for robustness
runs), `stores` (streaming extraction and reading of feature stores).
"""

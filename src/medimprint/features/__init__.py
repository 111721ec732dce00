"""Image features: ImageNet CNNs, EfficientNet-Lite0, LBP, frequency fingerprints and raw pixels,
extracted in batches into HDF5 feature stores.

Modules: `registry` (the backbones by name), `weights` (ImageNet, packaged or local weights),
`networks` (torchvision and EfficientNet-Lite0 trunks), `extractors` (images to features),
`fingerprints` (frequency-domain fingerprints), `perturbations` (post-processing for robustness
runs), `stores` (streaming extraction and reading of feature stores).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "extractors": [
            "build_extractor",
            "FeatureExtractor",
            "LBPExtractor",
            "FingerprintExtractor",
            "PixelExtractor",
            "TorchExtractor",
        ],
        "fingerprints": [
            "median3x3",
            "noise_residual",
            "log_spectrum_profile",
            "log_dct_blocks",
            "Fingerprint",
        ],
        "networks": ["build_model", "lite0_module"],
        "perturbations": ["parse_perturbation", "perturb"],
        "registry": ["BackboneSpec", "get_spec"],
        "stores": [
            "loader_workers",
            "extract_features",
            "extract_to_store",
            "read_features",
            "load_feature_set",
            "standardise_blocks",
        ],
        "weights": [
            "lite0_file",
            "downloads_weights",
            "fetch_weights",
            "read_state_dict",
            "load_checkpoint",
            "sha256",
        ],
    },
)

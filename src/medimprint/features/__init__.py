"""Image features: ImageNet CNNs, EfficientNet-Lite0, LBP, frequency fingerprints and raw pixels,
extracted in batches into HDF5 feature stores.

Modules: `backbones` (the registry, weights and extractors), `fingerprints` (frequency-domain
fingerprints), `perturbations` (post-processing for robustness runs), `stores` (streaming
extraction and reading of feature stores).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "backbones": [
            "BackboneSpec",
            "get_spec",
            "downloads_weights",
            "fetch_weights",
            "FeatureExtractor",
            "LBPExtractor",
            "FingerprintExtractor",
            "PixelExtractor",
            "TorchExtractor",
            "build_extractor",
        ],
        "fingerprints": [
            "median3x3",
            "noise_residual",
            "log_spectrum_profile",
            "log_dct_blocks",
            "Fingerprint",
        ],
        "perturbations": ["parse_perturbation", "perturb"],
        "stores": [
            "loader_workers",
            "extract_features",
            "extract_to_store",
            "read_features",
            "load_feature_set",
            "standardise_blocks",
        ],
    },
)

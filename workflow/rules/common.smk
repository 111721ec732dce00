import glob
import re

from snakemake.utils import validate

from medimprint.build import generator_plan
from medimprint.backbones import downloads_weights
from medimprint.config import NAMED_WEIGHTS, check_config
from medimprint.data import dataset_files
from medimprint.errors import InputError

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
ENV = "../../envs/medimprint.yaml"


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) or "$^"


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    build=_alternatives(BUILDS),
    backbone=_alternatives(BACKBONES),
    crop="full",
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


def weights_input(wildcards):
    """The fetched ImageNet weights stamp, a local checkpoint, or nothing."""
    weights = config["backbones"][wildcards.backbone]["weights"]
    if downloads_weights(wildcards.backbone, weights):
        return f"results/weights/{wildcards.backbone}.json"
    return [] if weights in NAMED_WEIGHTS else weights


def attribution_runs(dataset):
    return expand(
        "results/{dataset}/attribution/{backbone}/{reducer}_{method}_k-{kmode}",
        dataset=dataset,
        backbone=BACKBONES,
        reducer=config["attribution"]["reducers"],
        method=config["attribution"]["methods"],
        kmode=config["attribution"]["k"],
    )


def dataset_metrics(wildcards):
    """Per-run metrics files of one dataset."""
    return [f"{run}_metrics.tsv" for run in attribution_runs(wildcards.dataset)]


def all_targets():
    return (
        expand("results/{dataset}/manifest.tsv", dataset=MEMBERSHIP)
        + expand("results/{dataset}/metrics.tsv", dataset=ATTRIBUTION)
        + ["results/metrics.tsv", "results/report/metrics.html"]
    )

import glob
import itertools
import os
import re

from snakemake.logging import logger
from snakemake.utils import validate

from medimprint.features.weights import downloads_weights
from medimprint.benchmark.layout import generator_plan
from medimprint.benchmark.slices import has_reference_lungs
from medimprint.config import NAMED_WEIGHTS, check_config, check_schema, upgrade_config
from medimprint.data.validation import dataset_files, files_digest, label_file
from medimprint.errors import InputError
from medimprint.names import (
    ATTACKS,
    CLEAN,
    CLUSTERING_METHODS,
    CODE_SPACE,
    CONTROLS,
    CROPS,
    DISTANCES,
    ENSEMBLE_RUN,
    GENERATOR_FAMILIES,
    K_ESTIMATED,
    K_MODES,
    PERTURBATION_REGEX,
    RECONSTRUCTION_RUNS,
    REDUCERS,
    REGION_KS,
    attack_run_id,
    attribution_run_id,
    parse_attribution_run_id,
    reconstruction_run_id,
    region_run_id,
    runs_in,
)

try:  # short messages naming each bad key first; then Snakemake's check fills in defaults
    for deprecation in upgrade_config(config):
        logger.warning(deprecation)
    check_schema(config, workflow.source_path("../schemas/config.schema.yaml"))
    validate(config, "../schemas/config.schema.yaml")
    check_config(config)
except InputError as err:
    raise WorkflowError(str(err)) from None

BUILDS = config["builds"]
DATASETS = config["datasets"]
BACKBONES = list(config["backbones"])
ATTRIBUTION = [name for name, spec in DATASETS.items() if "attribution" in spec]
MEMBERSHIP = [name for name, spec in DATASETS.items() if "membership" in spec]
SUBSETS = [name for name, spec in DATASETS.items() if "subsets" in spec]
SUBSET_SPACES = config["subsets"].get("spaces", BACKBONES)
# A feature set is one backbone, or several concatenated ("efficientnet_lite0+dct").
COMBINED = {"+".join(members): members for members in config["attribution"]["combine"]}
ATTRIBUTION_BACKBONES = config["attribution"].get("backbones", BACKBONES)
FEATURE_SETS = ATTRIBUTION_BACKBONES + list(COMBINED)
REGIONS = config["regions"]
REGIONS_BACKBONES = REGIONS.get("backbones", BACKBONES)
REGIONS_KS = REGIONS.get("k", list(REGION_KS))
SEGMENTER = config["segmentation"]["method"]
ATTACK_SPACES = config["attacks"].get("spaces", BACKBONES)
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
    crop=_alternatives(CROPS),
    reducer=_alternatives(REDUCERS),
    kmode=_alternatives(K_MODES),
    method=_alternatives(CLUSTERING_METHODS),
    distance=_alternatives(DISTANCES),
    attack=_alternatives(ATTACKS),
    space=_alternatives([*BACKBONES, CODE_SPACE]),
    family=_alternatives(GENERATOR_FAMILIES),
    database=r"[A-Za-z0-9][A-Za-z0-9_-]*(\.dev|\.test)?",


def output_path(rule, key=0, **wildcards):
    """The path ``rule`` declares for its output ``key`` (a name or a position), with its
    wildcards filled in (a list where its output is expanded); each output path is
    spelled once, by the rule that writes it."""
    outputs = getattr(rules, rule).output
    pattern = outputs[key] if isinstance(key, int) else getattr(outputs, key)
    if isinstance(pattern, str):
        return pattern.format(**wildcards)
    return [path.format(**wildcards) for path in pattern]  # an expanded list of outputs


def build_seed(build):
    """The seed of a build's random steps: its own, or the config's."""
    return BUILDS[build].get("seed", config["seed"])


def layout_settings(build):
    """A build's settings as its layout reads them; the seed travels on its own (`build_seed`),
    so that naming the top-level seed again remakes nothing."""
    return {key: value for key, value in BUILDS[build].items() if key != "seed"}


def build_models(build):
    """The generator models ("{database}/{family}") a build trains, with sample counts."""
    return generator_plan(BUILDS[build])


def slices_settings(build):
    """The part of a build its real slices come from (so that editing its pools or generators
    does not remake them)."""
    spec = BUILDS[build]
    source = "slices" if spec["source"] == "slices" else "demo"
    return {key: spec[key] for key in ("source", "image_size", source) if key in spec}


def pool_settings(build):
    """The pool sizes of each membership database of a build (what its split depends on)."""
    keys = ("used", "not_used", "test_fraction")
    return {
        db: {key: cfg[key] for key in keys if key in cfg}
        for db, cfg in BUILDS[build]["membership"].items()
    }


def generator_samples(wildcards):
    """The generated images of every model a build trains, in `build_models` order."""
    return [
        output_path(
            "train_generator",
            "samples",
            build=wildcards.build,
            database=db,
            family=family,
        )
        for db, family in (model.split("/") for model in build_models(wildcards.build))
    ]


def slice_files(wildcards):
    """Real slices a `slices` build reads, so editing one reruns the build."""
    spec = BUILDS[wildcards.build]
    if spec["source"] != "slices":
        return []
    return sorted(glob.glob(spec["slices"]["glob"], recursive=True))


def slices_manifest(wildcards):
    """The slices manifest a `slices` build names, if any."""
    return BUILDS[wildcards.build].get("slices", {}).get("manifest", [])


def dataset_inputs(wildcards):
    """What a dataset's ingest reads as files: its build's layout, or its label file (the
    images enter through `dataset_digest`)."""
    spec = DATASETS[wildcards.dataset]
    if "build" in spec:
        return output_path("write_layout", build=spec["build"])
    return label_file(spec)


def dataset_digest(wildcards):
    """A digest of a dataset's image files (paths, sizes, times): a changed parameter reruns
    ingest when an image is added, removed or edited, without one input per image."""
    spec = DATASETS[wildcards.dataset]
    return "" if "build" in spec else files_digest(dataset_files(spec))


def groups_source(wildcards):
    """The file a dataset's groups are read from (inside a build's layout: the layout), or
    nothing when they are a pattern or estimated from the images."""
    spec = DATASETS[wildcards.dataset]
    groups = spec["membership"].get("groups")
    if not isinstance(groups, str):
        return []
    if "build" in spec:
        return output_path("write_layout", build=spec["build"])
    return groups if os.path.isabs(groups) else os.path.join(spec["root"], groups)


def masks_input(wildcards):
    """The dataset's lung masks (of the configured segmenter) when the crop is a lung region."""
    if wildcards.crop == "full":
        return []
    return output_path(f"{SEGMENTER}_masks", dataset=wildcards.dataset)


def reference_lungs_input(wildcards):
    """The slices manifest of the dataset's build when it names reference lungs (LUNA16's
    does), to measure the masks against; else nothing."""
    build = BUILDS.get(DATASETS[wildcards.dataset].get("build"), {})
    manifest = build.get("slices", {}).get("manifest")
    if build.get("source") == "slices" and manifest and has_reference_lungs(manifest):
        return manifest
    return []


def unet_checkpoint(wildcards):
    """The lung UNet a dataset's masks come from: the configured checkpoint, or one trained on
    the dataset's classical masks."""
    return config["segmentation"].get(
        "checkpoint", output_path("train_lung_unet", "model", dataset=wildcards.dataset)
    )


def weights_input(wildcards):
    """The fetched ImageNet weights stamp, a local checkpoint, or nothing."""
    weights = config["backbones"][wildcards.backbone]["weights"]
    if downloads_weights(wildcards.backbone, weights):
        return output_path("fetch_weights", backbone=wildcards.backbone)
    return [] if weights in NAMED_WEIGHTS else weights


def members(feature_set):
    """The backbones of a feature set."""
    return COMBINED.get(feature_set, [feature_set])


def store_path(dataset, backbone, perturbation=None):
    """A backbone's feature store of a dataset: all images, or the perturbed test images."""
    if perturbation:
        return output_path(
            "extract_perturbed_features",
            dataset=dataset,
            crop="full",
            perturbation=perturbation,
            backbone=backbone,
        )
    return output_path(
        "extract_features", dataset=dataset, crop="full", backbone=backbone
    )


def space_store(dataset, space):
    """The features an attack reads: a backbone's store, or the autoencoder's codes."""
    if space == CODE_SPACE:
        return output_path("autoencoder_codes", dataset=dataset)
    return store_path(dataset, space)


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


def attribution_runs(dataset, views=VIEWS, kind="clusters"):
    """{run id (as in metrics.tsv): its ``kind`` of file} of every attribution run."""
    runs = {}
    for feature_set, view, reducer, method, kmode in itertools.product(
        FEATURE_SETS,
        views,
        config["attribution"]["reducers"],
        config["attribution"]["methods"],
        config["attribution"]["k"],
    ):
        runs[attribution_run_id(feature_set, reducer, method, kmode, view)] = (
            output_path(
                "attribution_clusters",
                kind,
                dataset=dataset,
                feature_set=feature_set,
                view=view,
                reducer=reducer,
                method=method,
                kmode=kmode,
            )
        )
    return runs


def selection_candidates(dataset):
    """{run id: clusters file} of the clean runs with k estimated: what the dataset's answer is
    chosen from."""
    return {
        run: path
        for run, path in attribution_runs(dataset, [CLEAN]).items()
        if parse_attribution_run_id(run)[3] == K_ESTIMATED
    }


def feature_set_stores(dataset):
    """{feature set: its backbones' feature stores} of a dataset (test images as made)."""
    return {
        name: [store_path(dataset, b) for b in members(name)] for name in FEATURE_SETS
    }


def region_runs(dataset):
    """{run id (as in metrics.tsv): its scores, k-search, metrics, candidates and submission
    files} of a membership dataset's region runs; one job per (crop, backbone, method) makes
    both distances."""
    runs = {}
    for crop, backbone, method, distance in itertools.product(
        REGIONS["crops"], REGIONS_BACKBONES, REGIONS["methods"], DISTANCES
    ):
        wildcards = dict(dataset=dataset, crop=crop, backbone=backbone, method=method)
        files = {
            kind: output_path("membership_regions", kind, **wildcards)
            for kind in ("search", "metrics", "candidates")
        }
        scores, submissions = (
            output_path("membership_regions", kind, **wildcards)
            for kind in ("scores", "submissions")
        )
        index = DISTANCES.index(distance)  # the rule's lists follow DISTANCES
        files |= {"scores": scores[index], "submission": submissions[index]}
        runs[region_run_id(crop, backbone, method, distance)] = files
    return runs


def region_files(kind):
    """Input function: one kind of file of every region run of the dataset."""
    return lambda wildcards: sorted(
        {run[kind] for run in region_runs(wildcards.dataset).values()}
    )


def attack_runs(dataset, kind="scores"):
    """{run id: its ``kind`` of file (per-image scores, metrics, candidates)} of a membership
    dataset's attack runs."""
    return {
        attack_run_id(attack, space): output_path(
            "membership_attack", kind, dataset=dataset, attack=attack, space=space
        )
        for attack, space in itertools.product(
            config["attacks"]["methods"], ATTACK_SPACES
        )
        if runs_in(attack, space)
    }


def candidate_files(wildcards):
    """Every candidates table of a membership dataset: region runs, attacks, method B."""
    dataset = wildcards.dataset
    regions = region_files("candidates")(wildcards)
    attacks = list(attack_runs(dataset, "candidates").values())
    return (
        regions
        + attacks
        + [output_path("membership_reconstruction", "candidates", dataset=dataset)]
    )


def ensemble_members(dataset):
    """{run id: scores file} of every run the ensemble may combine: the attacks and the
    paper's reconstruction runs."""
    scores = output_path("membership_reconstruction", "scores", dataset=dataset)
    reconstruction = {  # the rule's scores follow RECONSTRUCTION_RUNS
        reconstruction_run_id(run): path
        for run, path in zip(RECONSTRUCTION_RUNS, scores, strict=True)
    }
    return attack_runs(dataset) | reconstruction


def subsets_files(dataset, kind):
    """One ``kind`` of file (predictions, metrics) of each feature space of a subsets dataset."""
    return [
        output_path("subsets_runs", kind, dataset=dataset, space=space)
        for space in SUBSET_SPACES
    ]


def dataset_metrics(wildcards):
    """Per-run metrics files of one dataset."""
    if wildcards.dataset in SUBSETS:
        return subsets_files(wildcards.dataset, "metrics")
    if wildcards.dataset in MEMBERSHIP:
        attacks = list(attack_runs(wildcards.dataset, "metrics").values())
        others = [
            output_path(rule, "metrics", dataset=wildcards.dataset)
            for rule in (
                "membership_reconstruction",
                "membership_ensemble",
                "membership_controls",
            )
        ]
        return region_files("metrics")(wildcards) + attacks + others
    return list(attribution_runs(wildcards.dataset, kind="metrics").values())


def metrics_table(wildcards):
    """The dataset's metrics table, for the rules that read it before its rule,
    `dataset_metrics` (report.smk), is defined."""
    return output_path("dataset_metrics", "table", dataset=wildcards.dataset)


def all_targets():
    """The metrics, the answers, the figures and the report of every dataset."""
    membership = [
        ("membership_selected", "table"),
        ("membership_selected", "roc"),
        ("membership_best_region", "table"),
        ("membership_figures", "scores"),
        ("membership_figures", "k"),
        ("segmentation_report", "overlays"),
        ("membership_attack_figures", "roc"),
    ]
    attribution = [
        ("attribution_figures", "embedding"),
        ("attribution_figures", "examples"),
    ]
    if K_ESTIMATED in config["attribution"]["k"]:
        attribution.append(("attribution_selected", "table"))
    return (
        [output_path("dataset_metrics", dataset=dataset) for dataset in DATASETS]
        + [
            output_path(rule, key, dataset=dataset)
            for dataset in MEMBERSHIP
            for rule, key in membership
        ]
        + [
            output_path(rule, key, dataset=dataset)
            for dataset in ATTRIBUTION
            for rule, key in attribution
        ]
        + [output_path("subsets_selected", "table", dataset=d) for d in SUBSETS]
        + [output_path("metrics_report", key) for key in ("table", "html")]
    )

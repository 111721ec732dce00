"""The names of the workflow's choices and the ids of its runs, defined once.

The Snakefile's wildcard constraints and run ids, the config schema's enums (checked by a test)
and the library all take them from here, so a new attack or reducer is named in one place. It
imports nothing but the standard library: parsing the workflow's DAG must not load scikit-learn
or matplotlib.
"""

from __future__ import annotations

# --- choices ----------------------------------------------------------------------------------

#: Image regions features are taken from (the paper's full slice, lungs, and the rest).
CROPS = ("full", "lung", "outer")
#: Unsupervised reducers of a feature set: none, or PCA keeping 90% / 95% of the variance.
PCA_REDUCERS = ("none", "pca90", "pca95")
#: Reducers learned on the labelled generators (`metric_learning`).
METRIC_KINDS = ("lda", "lda_pca", "whiten")
#: Every reducer an attribution run may use.
REDUCERS = (*PCA_REDUCERS, *METRIC_KINDS)
#: Clustering methods (attribution and the paper's method A).
CLUSTERING_METHODS = ("kmeans", "hierarchical")
#: k for attribution: the number of test generators given, or estimated from the data.
K_MODES = ("given", "estimated")
K_GIVEN, K_ESTIMATED = K_MODES
#: Distances of a real image to the clusters of generated ones (method A).
DISTANCES = ("min", "mean")
#: The default 30 values of k of method A (the paper's runs used 4 to 60).
REGION_KS = (
    *range(2, 11),
    *range(12, 21, 2),
    25, 30, 35, 40, 45, 50, 55, 60, 70, 80, 90, 100, 120, 150, 200, 250,
)  # fmt: skip
#: Membership attacks on one feature space.
ATTACKS = (
    "gan_leaks",
    "monte_carlo",
    "domias",
    "patch_leaks",
    "shift_calibrated",
    "aligned_nearest",
    "real_calibrated",
)
#: Attacks that need an image space (`RAW_SPACES`): they compare blocks or shifts of pixels.
IMAGE_ATTACKS = ("patch_leaks", "shift_calibrated", "aligned_nearest")
#: Feature spaces compared as they are (pixel intensities); others are standardised first.
RAW_SPACES = ("pixels",)
#: The attack space of the autoencoder's bottleneck codes (not a backbone).
CODE_SPACE = "autoencoder"
#: The paper's method B runs on the autoencoder's reconstruction-error maps.
RECONSTRUCTION_RUNS = ("mean_mse", "ssim")
#: Attacks whose scores consult a reference of labelled images (known not-used ones).
REFERENCE_ATTACKS = ("gan_leaks", "patch_leaks", "domias")
#: Membership baselines every answer is compared with.
CONTROLS = ("labelled_neighbour", "nearest_generated")
#: The control that is also the answer's default: label free and without a parameter.
BASELINE_CONTROL = "nearest_generated"
#: Ways to tell which training subset's generator made an image (the task's 2025 sub-task 2):
#: the subset of the nearest real image (reads no label of a generated image), a k-NN and a
#: logistic regression on the labelled generated images, and the latter with each image's
#: distances to the real subsets as extra features.
SUBSET_METHODS = ("nearest_real", "knn", "logistic", "logistic_real")
#: Generator families a build can train.
GENERATOR_FAMILIES = ("vae", "dcgan", "upconv_gan", "pca_gaussian")
#: The view of test images as made (robustness runs name a perturbation instead).
CLEAN = "clean"
#: Every valid perturbation name, e.g. jpeg90 or resize50 (for wildcard constraints).
PERTURBATION_REGEX = r"jpeg(100|[1-9][0-9]?)|resize([1-9][0-9])"

# --- run ids (as in metrics.tsv) ---------------------------------------------------------------


def attribution_run_id(
    feature_set: str, reducer: str, method: str, k: str, view: str = CLEAN
) -> str:
    """``{features}/{reducer}/{method}/k-{k}/{view}``."""
    return f"{feature_set}/{reducer}/{method}/k-{k}/{view}"


def parse_attribution_run_id(run: str) -> tuple[str, str, str, str, str]:
    """``(feature_set, reducer, method, k, view)`` of an `attribution_run_id`."""
    parts = run.split("/")
    if len(parts) != 5 or not parts[3].startswith("k-"):
        raise ValueError(f"not an attribution run id: {run!r}")
    feature_set, reducer, method, k, view = parts
    return feature_set, reducer, method, k.removeprefix("k-"), view


def region_run_id(crop: str, backbone: str, method: str, distance: str) -> str:
    """A run of the paper's method A: ``regions/{crop}/{backbone}/{method}/{distance}``."""
    return f"regions/{crop}/{backbone}/{method}/{distance}"


def attack_run_id(attack: str, space: str) -> str:
    """``attacks/{attack}/{space}``."""
    return f"attacks/{attack}/{space}"


#: The rank ensemble of the attacks and method B.
ENSEMBLE_RUN = "attacks/ensemble"


def reconstruction_run_id(method: str) -> str:
    """A run of the paper's method B: ``autoencoder/{method}``."""
    return f"autoencoder/{method}"


def control_run_id(control: str) -> str:
    """``controls/{control}``."""
    return f"controls/{control}"


def subset_run_id(method: str, space: str) -> str:
    """A run of training-subset identification: ``subsets/{method}/{space}``."""
    return f"subsets/{method}/{space}"


def parse_subset_run_id(run: str) -> tuple[str, str]:
    """``(method, space)`` of a `subset_run_id`."""
    parts = run.split("/")
    if len(parts) != 3 or parts[0] != "subsets" or parts[1] not in SUBSET_METHODS:
        raise ValueError(f"not a subsets run id: {run!r}")
    return parts[1], parts[2]


#: Separates a run id from its inner setting in a membership candidate's name
#: (``regions/full/resnet50/kmeans/min@k=8``).
SETTING_SEP = "@"


def uses_labels(run: str) -> bool:
    """Whether a membership run's (or candidate's) scores consult labelled training images:
    the reference attacks, method B's class means, the ensemble's chosen members, the
    labelled-neighbour control. Such a score of one image depends on other images' labels, so
    only groups known to keep neighbours apart (a group file or pattern) make it honest."""
    parts = run.split(SETTING_SEP)[0].split("/")
    if parts[0] == "attacks":
        return len(parts) < 3 or parts[1] in REFERENCE_ATTACKS  # attacks/ensemble: 2 parts
    return parts[0] == "autoencoder" or parts == ["controls", "labelled_neighbour"]


def runs_in(attack: str, space: str) -> bool:
    """Whether ``attack`` runs in feature ``space`` (image attacks only in pixel spaces)."""
    return attack not in IMAGE_ATTACKS or space in RAW_SPACES

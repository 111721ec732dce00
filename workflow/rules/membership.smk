# Sub-task 1 (training-data fingerprints). Every method reads the dataset's groups of real images
# (patients / blocks) and writes its candidates; the dataset's answer is chosen among them.


rule membership_groups:
    input:
        manifest=rules.ingest.output.manifest,
        source=groups_source,
    output:
        table="results/{dataset}/membership/groups.tsv",
        check="results/{dataset}/membership/groups_check.tsv",
    log:
        "logs/membership_groups/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_groups/{dataset}.tsv"
    conda:
        ENV
    params:
        spec=lambda wildcards: DATASETS[wildcards.dataset]["membership"].get("groups"),
        root=lambda wildcards: DATASETS[wildcards.dataset]["root"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/membership_groups.py"


# What an attack must beat: the labelled-neighbour control (no generator) and the plain
# nearest-generated distance, in pixel space.
rule membership_controls:
    input:
        manifest=rules.ingest.output.manifest,
        groups=rules.membership_groups.output.table,
    output:
        scores=expand(
            "results/{{dataset}}/membership/controls/{control}.tsv", control=CONTROLS
        ),
        metrics="results/{dataset}/membership/controls/metrics.tsv",
        submissions=expand(
            "results/{{dataset}}/submissions/membership_controls_{control}.csv",
            control=CONTROLS,
        ),
    log:
        "logs/membership_controls/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_controls/{dataset}.tsv"
    conda:
        ENV
    params:
        folds=config["attacks"]["folds"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/membership_controls.py"


# The dataset's answer: the candidate chosen without test labels, its nested estimate, beside
# the controls.
rule membership_selected:
    input:
        manifest=rules.ingest.output.manifest,
        groups=rules.membership_groups.output.table,
        groups_check=rules.membership_groups.output.check,
        candidates=candidate_files,
        controls=rules.membership_controls.output.metrics,
        control_scores=rules.membership_controls.output.scores,
    output:
        table="results/{dataset}/membership/selected.tsv",
        scores="results/{dataset}/membership/selected_scores.tsv",
        folds="results/{dataset}/membership/selected_folds.tsv",
        submission="results/{dataset}/submissions/membership_selected.csv",
        roc=report(
            "results/{dataset}/membership/selected_roc.png",
            caption="../report/membership_selected.rst",
            category="Membership — the answer",
            labels={
                "dataset": "{dataset}",
                "figure": "ROC of the chosen run and controls",
            },
        ),
    log:
        "logs/membership_selected/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_selected/{dataset}.tsv"
    conda:
        ENV
    params:
        folds=config["attacks"]["folds"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/membership_selected.py"


# Method A: distance of the real images to clusters of the generated images' features, per
# crop, backbone and clustering method.


rule membership_regions:
    input:
        manifest=rules.ingest.output.manifest,
        features=rules.extract_features.output.features,
        groups=rules.membership_groups.output.table,
    output:
        scores=expand(
            "results/{{dataset}}/membership/regions/{{crop}}/{{backbone}}/{{method}}_{distance}.tsv",
            distance=DISTANCES,
        ),
        search="results/{dataset}/membership/regions/{crop}/{backbone}/{method}_k.tsv",
        metrics="results/{dataset}/membership/regions/{crop}/{backbone}/{method}_metrics.tsv",
        candidates="results/{dataset}/membership/regions/{crop}/{backbone}/{method}_candidates.tsv",
        submissions=expand(
            "results/{{dataset}}/submissions/membership_regions_{{crop}}_{{backbone}}_{{method}}_{distance}.csv",
            distance=DISTANCES,
        ),
    log:
        "logs/membership_regions/{dataset}/{crop}/{backbone}/{method}.log",
    benchmark:
        "results/benchmarks/membership_regions/{dataset}/{crop}/{backbone}/{method}.tsv"
    conda:
        ENV
    params:
        ks=REGIONS_KS,
        linkage=REGIONS["linkage"],
        max_points=REGIONS["max_points"],
        folds=REGIONS["folds"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/membership_regions.py"


# Method A's best region run on the training split, and a copy of its submission (the
# dataset's answer, among every method's candidates, is `membership_selected`).
rule membership_best_region:
    input:
        metrics=metrics_table,
        submissions=region_files("submission"),
    output:
        table="results/{dataset}/membership/regions_best.tsv",
        submission="results/{dataset}/submissions/membership_regions_best.csv",
    log:
        "logs/membership_best_region/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_best_region/{dataset}.tsv"
    conda:
        ENV
    params:
        submissions=lambda wildcards: {
            run: files["submission"]
            for run, files in region_runs(wildcards.dataset).items()
        },
    script:
        "../scripts/membership_best_region.py"


rule membership_figures:
    input:
        metrics=metrics_table,
        scores=region_files("scores"),
        searches=region_files("search"),
    output:
        scores=report(
            "results/{dataset}/membership/regions_scores.png",
            caption="../report/membership_scores.rst",
            category="Membership — regions",
            labels={"dataset": "{dataset}", "figure": "score histograms"},
        ),
        k=report(
            "results/{dataset}/membership/regions_k.png",
            caption="../report/membership_k.rst",
            category="Membership — regions",
            labels={"dataset": "{dataset}", "figure": "F1 against k"},
        ),
    log:
        "logs/membership_figures/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_figures/{dataset}.tsv"
    conda:
        ENV
    params:
        runs=lambda wildcards: region_runs(wildcards.dataset),
    script:
        "../scripts/membership_figures.py"


# Beyond the paper: each attack of `names.ATTACKS` in each feature space it runs in, then the
# rank ensemble of the attacks and the paper's reconstruction runs.
rule membership_attack:
    input:
        manifest=rules.ingest.output.manifest,
        features=lambda wildcards: space_store(wildcards.dataset, wildcards.space),
        groups=rules.membership_groups.output.table,
    output:
        scores="results/{dataset}/membership/attacks/{attack}/{space}.tsv",
        metrics="results/{dataset}/membership/attacks/{attack}/{space}_metrics.tsv",
        candidates="results/{dataset}/membership/attacks/{attack}/{space}_candidates.tsv",
        submission="results/{dataset}/submissions/membership_attacks_{attack}_{space}.csv",
    log:
        "logs/membership_attack/{dataset}/{attack}/{space}.log",
    benchmark:
        "results/benchmarks/membership_attack/{dataset}/{attack}/{space}.tsv"
    conda:
        ENV
    params:
        folds=config["attacks"]["folds"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/membership_attack.py"


rule membership_ensemble:
    input:
        manifest=rules.ingest.output.manifest,
        scores=lambda wildcards: list(ensemble_members(wildcards.dataset).values()),
        groups=rules.membership_groups.output.table,
    output:
        scores="results/{dataset}/membership/attacks/ensemble.tsv",
        subsets="results/{dataset}/membership/attacks/ensemble_subsets.tsv",
        metrics="results/{dataset}/membership/attacks/ensemble_metrics.tsv",
        submission="results/{dataset}/submissions/membership_attacks_ensemble.csv",
    log:
        "logs/membership_ensemble/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_ensemble/{dataset}.tsv"
    conda:
        ENV
    params:
        runs=lambda wildcards: ensemble_members(wildcards.dataset),
        folds=config["attacks"]["folds"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/membership_ensemble.py"


# The paper's method B: an autoencoder trained on the generated images, reconstruction errors
# of the real images, and the mean-MSE and SSIM runs on them.
rule train_autoencoder:
    input:
        manifest=rules.ingest.output.manifest,
    output:
        model="results/{dataset}/autoencoder/model.pt",
        model_test="results/{dataset}/autoencoder/model_test.pt",
        history="results/{dataset}/autoencoder/history.tsv",
    log:
        "logs/train_autoencoder/{dataset}.log",
    benchmark:
        "results/benchmarks/train_autoencoder/{dataset}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
    params:
        options=config["autoencoder"],
        seed=config["seed"],
    script:
        "../scripts/train_autoencoder.py"


rule reconstruction_errors:
    input:
        manifest=rules.ingest.output.manifest,
        model=rules.train_autoencoder.output.model,
        model_test=rules.train_autoencoder.output.model_test,
    output:
        errors="results/{dataset}/autoencoder/errors.h5",
    log:
        "logs/reconstruction_errors/{dataset}.log",
    benchmark:
        "results/benchmarks/reconstruction_errors/{dataset}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
    script:
        "../scripts/reconstruction_errors.py"


rule autoencoder_codes:
    input:
        manifest=rules.ingest.output.manifest,
        model=rules.train_autoencoder.output.model,
        model_test=rules.train_autoencoder.output.model_test,
    output:
        "results/{dataset}/autoencoder/codes.h5",
    log:
        "logs/autoencoder_codes/{dataset}.log",
    benchmark:
        "results/benchmarks/autoencoder_codes/{dataset}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
    script:
        "../scripts/autoencoder_codes.py"


rule membership_reconstruction:
    input:
        manifest=rules.ingest.output.manifest,
        errors=rules.reconstruction_errors.output.errors,
        groups=rules.membership_groups.output.table,
    output:
        scores=expand(
            "results/{{dataset}}/membership/autoencoder/{run}.tsv",
            run=RECONSTRUCTION_RUNS,
        ),
        metrics="results/{dataset}/membership/autoencoder/metrics.tsv",
        candidates="results/{dataset}/membership/autoencoder/candidates.tsv",
        submissions=expand(
            "results/{{dataset}}/submissions/membership_autoencoder_{run}.csv",
            run=RECONSTRUCTION_RUNS,
        ),
    log:
        "logs/membership_reconstruction/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_reconstruction/{dataset}.tsv"
    conda:
        ENV
    params:
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/membership_reconstruction.py"


rule membership_attack_figures:
    input:
        scores=lambda wildcards: list(ensemble_members(wildcards.dataset).values()),
        ensemble=rules.membership_ensemble.output.scores,
        history=rules.train_autoencoder.output.history,
        model=rules.train_autoencoder.output.model,
        manifest=rules.ingest.output.manifest,
    output:
        roc=report(
            "results/{dataset}/membership/roc.png",
            caption="../report/membership_roc.rst",
            category="Membership — reconstruction and distances",
            labels={"dataset": "{dataset}", "figure": "ROC curves"},
        ),
        training=report(
            "results/{dataset}/autoencoder/training.png",
            caption="../report/autoencoder_training.rst",
            category="Membership — reconstruction and distances",
            labels={"dataset": "{dataset}", "figure": "autoencoder training curve"},
        ),
        examples=report(
            "results/{dataset}/autoencoder/examples.png",
            caption="../report/autoencoder_examples.rst",
            category="Membership — reconstruction and distances",
            labels={"dataset": "{dataset}", "figure": "error-map examples"},
        ),
    log:
        "logs/membership_attack_figures/{dataset}.log",
    benchmark:
        "results/benchmarks/membership_attack_figures/{dataset}.tsv"
    conda:
        ENV
    params:
        runs=lambda wildcards: ensemble_members(wildcards.dataset)
        | {
            ENSEMBLE_RUN: output_path(
                "membership_ensemble", "scores", dataset=wildcards.dataset
            )
        },
    script:
        "../scripts/membership_attack_figures.py"

# Training-subset identification (the task's 2025 sub-task 2): every method in each feature
# space, then the answer chosen on the labelled generated images alone.


rule subsets_runs:
    input:
        manifest=rules.ingest.output.manifest,
        features=lambda wildcards: store_path(wildcards.dataset, wildcards.space),
    output:
        predictions="results/{dataset}/subsets/{space}/predictions.tsv",
        metrics="results/{dataset}/subsets/{space}/metrics.tsv",
        submissions=expand(
            "results/{{dataset}}/submissions/subsets_{method}_{{space}}.csv",
            method=config["subsets"]["methods"],
        ),
    log:
        "logs/subsets_runs/{dataset}/{space}.log",
    benchmark:
        "results/benchmarks/subsets_runs/{dataset}/{space}.tsv"
    conda:
        ENV
    params:
        methods=config["subsets"]["methods"],
        folds=config["subsets"]["folds"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/subsets_runs.py"


rule subsets_selected:
    input:
        manifest=rules.ingest.output.manifest,
        predictions=lambda wildcards: subsets_files(wildcards.dataset, "predictions"),
        metrics=lambda wildcards: subsets_files(wildcards.dataset, "metrics"),
    output:
        table="results/{dataset}/subsets/selected.tsv",
        confusion="results/{dataset}/subsets/selected_confusion.tsv",
        submission="results/{dataset}/submissions/subsets_selected.csv",
    log:
        "logs/subsets_selected/{dataset}.log",
    benchmark:
        "results/benchmarks/subsets_selected/{dataset}.tsv"
    conda:
        ENV
    script:
        "../scripts/subsets_selected.py"

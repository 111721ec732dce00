rule dataset_metrics:
    input:
        dataset_metrics,
    output:
        table=report(
            "results/{dataset}/metrics.tsv",
            caption="../report/dataset_metrics.rst",
            category="Metrics",
            labels={"dataset": "{dataset}", "table": "all runs"},
        ),
    log:
        "logs/dataset_metrics/{dataset}.log",
    benchmark:
        "results/benchmarks/dataset_metrics/{dataset}.tsv"
    conda:
        ENV
    script:
        "../scripts/collect_metrics.py"


rule metrics_report:
    input:
        metrics=expand(rules.dataset_metrics.output.table, dataset=DATASETS),
        segmentation=expand(
            rules.segmentation_report.output.summary, dataset=MEMBERSHIP
        ),
        selected=expand(rules.membership_selected.output.table, dataset=MEMBERSHIP),
        attribution_selected=(
            expand(rules.attribution_selected.output.table, dataset=ATTRIBUTION)
            if K_ESTIMATED in config["attribution"]["k"]
            else []
        ),
        subsets_selected=expand(rules.subsets_selected.output.table, dataset=SUBSETS),
    output:
        table="results/metrics.tsv",
        html=report(
            "results/report/metrics.html",
            caption="../report/metrics.rst",
            category="Metrics",
            labels={
                "dataset": "all",
                "table": "attribution (Tables 2, 5) and membership (Table 3) layouts",
            },
        ),
    log:
        "logs/metrics_report.log",
    benchmark:
        "results/benchmarks/metrics_report.tsv"
    conda:
        ENV
    script:
        "../scripts/metrics_report.py"


# The figures show the dataset's answer (k unknown) when the grid estimates k, else the run
# with the best training-split ARI.
rule attribution_figures:
    input:
        metrics=rules.dataset_metrics.output.table,
        manifest=rules.ingest.output.manifest,
        answer=(
            [
                rules.attribution_selected.output.table,
                rules.attribution_selected.output.names,
            ]
            if K_ESTIMATED in config["attribution"]["k"]
            else []
        ),
        clusters=lambda wildcards: list(
            attribution_runs(wildcards.dataset, [CLEAN]).values()
        ),
        stores=lambda wildcards: [
            store_path(wildcards.dataset, b)
            for b in sorted(set(ATTRIBUTION_BACKBONES).union(*COMBINED.values()))
        ],
    output:
        embedding=report(
            "results/{dataset}/attribution/embedding.png",
            caption="../report/attribution_embedding.rst",
            category="Attribution",
            labels={"dataset": "{dataset}", "figure": "2-D map of the test features"},
        ),
        examples=report(
            "results/{dataset}/attribution/examples.png",
            caption="../report/attribution_examples.rst",
            category="Attribution",
            labels={"dataset": "{dataset}", "figure": "example images per cluster"},
        ),
    log:
        "logs/attribution_figures/{dataset}.log",
    benchmark:
        "results/benchmarks/attribution_figures/{dataset}.tsv"
    conda:
        ENV
    params:
        clusters=lambda wildcards: attribution_runs(wildcards.dataset, [CLEAN]),
        stores=lambda wildcards: feature_set_stores(wildcards.dataset),
        linkage=config["attribution"]["linkage"],
        seed=config["seed"],
    script:
        "../scripts/attribution_figures.py"

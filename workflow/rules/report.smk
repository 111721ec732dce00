rule dataset_metrics:
    input:
        dataset_metrics,
    output:
        report(
            "results/{dataset}/metrics.tsv",
            caption="../report/dataset_metrics.rst",
            category="Metrics",
            labels={"dataset": "{dataset}", "table": "all runs"},
        ),
    log:
        "logs/dataset_metrics/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/collect_metrics.py"


rule metrics_report:
    input:
        expand("results/{dataset}/metrics.tsv", dataset=ATTRIBUTION),
    output:
        table="results/metrics.tsv",
        html=report(
            "results/report/metrics.html",
            caption="../report/metrics.rst",
            category="Metrics",
            labels={
                "dataset": "all",
                "table": "attribution (paper's Table 2/5 layout)",
            },
        ),
    log:
        "logs/metrics_report.log",
    conda:
        ENV
    script:
        "../scripts/metrics_report.py"

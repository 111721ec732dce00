rule ingest:
    input:
        dataset_inputs,
    output:
        "results/{dataset}/manifest.tsv",
    log:
        "logs/ingest/{dataset}.log",
    conda:
        ENV
    threads: 2
    params:
        spec=lambda wildcards: DATASETS[wildcards.dataset],
    script:
        "../scripts/ingest.py"

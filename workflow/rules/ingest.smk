rule ingest:
    input:
        dataset_inputs,
    output:
        manifest="results/{dataset}/manifest.tsv",
    log:
        "logs/ingest/{dataset}.log",
    benchmark:
        "results/benchmarks/ingest/{dataset}.tsv"
    conda:
        ENV
    threads: 2
    params:
        spec=lambda wildcards: DATASETS[wildcards.dataset],
        files=dataset_digest,
    script:
        "../scripts/ingest.py"

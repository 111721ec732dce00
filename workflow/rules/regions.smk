# Lung masks and the paper's image regions (full / lung / outer) fed to feature extraction.


rule lung_masks:
    input:
        manifest="results/{dataset}/manifest.tsv",
    output:
        "results/{dataset}/masks.h5",
    log:
        "logs/lung_masks/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/lung_masks.py"

localrules:
    fetch_weights,


rule fetch_weights:
    output:
        "results/weights/{backbone}.json",
    log:
        "logs/fetch_weights/{backbone}.log",
    conda:
        ENV
    params:
        weights=lambda wildcards: config["backbones"][wildcards.backbone]["weights"],
    script:
        "../scripts/fetch_weights.py"


rule extract_features:
    input:
        manifest=rules.ingest.output.manifest,
        weights=weights_input,
        masks=masks_input,
    output:
        features="results/{dataset}/features/{crop}/{backbone}.h5",
    log:
        "logs/extract_features/{dataset}/{crop}/{backbone}.log",
    benchmark:
        "results/benchmarks/extract_features/{dataset}/{crop}/{backbone}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
    params:
        weights=lambda wildcards: config["backbones"][wildcards.backbone]["weights"],
        input_size=lambda wildcards: config["backbones"][wildcards.backbone].get(
            "input_size"
        ),
        batch_size=lambda wildcards: config["backbones"][wildcards.backbone][
            "batch_size"
        ],
        seed=config["seed"],
    script:
        "../scripts/extract_features.py"


# Robustness runs: the test images after a perturbation (JPEG, resize), same extractor.
use rule extract_features as extract_perturbed_features with:
    output:
        features="results/{dataset}/features/{crop}/{perturbation}/{backbone}.h5",
    log:
        "logs/extract_features/{dataset}/{crop}/{perturbation}/{backbone}.log",
    benchmark:
        "results/benchmarks/extract_features/{dataset}/{crop}/{perturbation}/{backbone}.tsv"

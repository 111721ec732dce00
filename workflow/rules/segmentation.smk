# Lung masks and the paper's image regions (full / lung / outer) fed to feature extraction.


rule classical_masks:
    input:
        manifest=rules.ingest.output.manifest,
    output:
        masks="results/{dataset}/masks/classical.h5",
    log:
        "logs/classical_masks/{dataset}.log",
    benchmark:
        "results/benchmarks/classical_masks/{dataset}.tsv"
    conda:
        ENV
    script:
        "../scripts/classical_masks.py"


rule train_lung_unet:
    input:
        manifest=rules.ingest.output.manifest,
        masks=rules.classical_masks.output.masks,
    output:
        model="results/{dataset}/segmenter/unet.pt",
        history="results/{dataset}/segmenter/unet_history.tsv",
    log:
        "logs/train_lung_unet/{dataset}.log",
    benchmark:
        "results/benchmarks/train_lung_unet/{dataset}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
    params:
        epochs=config["segmentation"]["epochs"],
        batch_size=config["segmentation"]["batch_size"],
        seed=config["seed"],
    script:
        "../scripts/train_lung_unet.py"


rule unet_masks:
    input:
        manifest=rules.ingest.output.manifest,
        model=unet_checkpoint,
    output:
        masks="results/{dataset}/masks/unet.h5",
    log:
        "logs/unet_masks/{dataset}.log",
    benchmark:
        "results/benchmarks/unet_masks/{dataset}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
    script:
        "../scripts/unet_masks.py"


rule segmentation_report:
    input:
        manifest=rules.ingest.output.manifest,
        masks=getattr(rules, f"{SEGMENTER}_masks").output.masks,
        classical=[] if SEGMENTER == "classical" else rules.classical_masks.output.masks,
        reference=reference_lungs_input,
    output:
        summary="results/{dataset}/masks/quality.tsv",
        overlays=report(
            "results/{dataset}/masks/overlays.png",
            caption="../report/lung_overlays.rst",
            category="Lung segmentation",
            labels={"dataset": "{dataset}", "figure": "masks on example slices"},
        ),
    log:
        "logs/segmentation_report/{dataset}.log",
    benchmark:
        "results/benchmarks/segmentation_report/{dataset}.tsv"
    conda:
        ENV
    script:
        "../scripts/segmentation_report.py"

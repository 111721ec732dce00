# Benchmark builds: real (or procedural) slices -> used / not-used split -> generative models
# trained on the used part -> the task's folder layout.


rule real_slices:
    input:
        slices_manifest,
    output:
        images="results/builds/{build}/real.h5",
        meta="results/builds/{build}/real.tsv",
    log:
        "logs/real_slices/{build}.log",
    benchmark:
        "results/benchmarks/real_slices/{build}.tsv"
    conda:
        ENV
    params:
        build=lambda wildcards: slices_settings(wildcards.build),
        files=lambda wildcards: files_digest(slice_files(wildcards)),
        seed=lambda wildcards: build_seed(wildcards.build),
    script:
        "../scripts/real_slices.py"


rule split_real:
    input:
        meta=rules.real_slices.output.meta,
    output:
        splits="results/builds/{build}/splits.tsv",
    log:
        "logs/split_real/{build}.log",
    benchmark:
        "results/benchmarks/split_real/{build}.tsv"
    conda:
        ENV
    params:
        membership=lambda wildcards: pool_settings(wildcards.build),
        split=lambda wildcards: BUILDS[wildcards.build]["split"],
        seed=lambda wildcards: build_seed(wildcards.build),
    script:
        "../scripts/split_real.py"


rule train_generator:
    input:
        images=rules.real_slices.output.images,
        splits=rules.split_real.output.splits,
    output:
        model="results/builds/{build}/generators/{database}/{family}.pt",
        samples="results/builds/{build}/generators/{database}/{family}_samples.h5",
        history="results/builds/{build}/generators/{database}/{family}_history.tsv",
    log:
        "logs/train_generator/{build}/{database}/{family}.log",
    benchmark:
        "results/benchmarks/train_generator/{build}/{database}/{family}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
    params:
        options=lambda wildcards: BUILDS[wildcards.build]["generators"].get(
            wildcards.family, {}
        ),
        n_samples=lambda wildcards: build_models(wildcards.build)[
            f"{wildcards.database}/{wildcards.family}"
        ],
        seed=lambda wildcards: build_seed(wildcards.build),
    script:
        "../scripts/train_generator.py"


rule write_layout:
    input:
        images=rules.real_slices.output.images,
        meta=rules.real_slices.output.meta,
        splits=rules.split_real.output.splits,
        samples=generator_samples,
    output:
        directory("results/builds/{build}/data"),
    log:
        "logs/write_layout/{build}.log",
    benchmark:
        "results/benchmarks/write_layout/{build}.tsv"
    conda:
        ENV
    params:
        build=lambda wildcards: layout_settings(wildcards.build),
        models=lambda wildcards: list(build_models(wildcards.build)),
        seed=lambda wildcards: build_seed(wildcards.build),
    script:
        "../scripts/write_layout.py"

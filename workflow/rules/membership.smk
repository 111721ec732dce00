# Sub-task 1 (training-data fingerprints), method A: distance of the real images to clusters of
# the generated images' features, per crop, backbone and clustering method.


rule membership_regions:
    input:
        manifest="results/{dataset}/manifest.tsv",
        features="results/{dataset}/features/{crop}/{backbone}.h5",
    output:
        scores=expand(
            "results/{{dataset}}/membership/regions/{{crop}}/{{backbone}}/{{method}}_{distance}.tsv",
            distance=DISTANCES,
        ),
        search="results/{dataset}/membership/regions/{crop}/{backbone}/{method}_k.tsv",
        metrics="results/{dataset}/membership/regions/{crop}/{backbone}/{method}_metrics.tsv",
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


rule membership_selection:
    input:
        metrics="results/{dataset}/metrics.tsv",
        submissions=region_files("submission"),
    output:
        table="results/{dataset}/membership/regions_selected.tsv",
        submission="results/{dataset}/submissions/membership_regions_selected.csv",
    log:
        "logs/membership_selection/{dataset}.log",
    conda:
        ENV
    params:
        submissions=lambda wildcards: {
            run: files["submission"]
            for run, files in region_runs(wildcards.dataset).items()
        },
    script:
        "../scripts/membership_selection.py"


rule membership_figures:
    input:
        metrics="results/{dataset}/metrics.tsv",
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
    conda:
        ENV
    params:
        runs=lambda wildcards: region_runs(wildcards.dataset),
    script:
        "../scripts/membership_figures.py"

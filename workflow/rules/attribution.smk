rule attribution_clusters:
    input:
        unpack(feature_stores),
        manifest=rules.ingest.output.manifest,
    output:
        clusters="results/{dataset}/attribution/{feature_set}/{view}/{reducer}_{method}_k-{kmode}.tsv",
        metrics="results/{dataset}/attribution/{feature_set}/{view}/{reducer}_{method}_k-{kmode}_metrics.tsv",
        submission="results/{dataset}/submissions/attribution_{feature_set}_{view}_{reducer}_{method}_k-{kmode}.csv",
    log:
        "logs/attribution_clusters/{dataset}/{feature_set}/{view}/{reducer}_{method}_k-{kmode}.log",
    benchmark:
        "results/benchmarks/attribution_clusters/{dataset}/{feature_set}/{view}/{reducer}_{method}_k-{kmode}.tsv"
    conda:
        ENV
    params:
        test_generators=lambda wildcards: DATASETS[wildcards.dataset]["attribution"][
            "test_generators"
        ],
        linkage=config["attribution"]["linkage"],
        k_criterion=config["attribution"]["k_criterion"],
        k_max=config["attribution"]["k_max"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/attribution_clusters.py"


# The dataset's answer with the number of generators unknown: the run with k estimated chosen
# without test labels (held-out-generator validation on the labelled split, then agreement with
# the other runs), its clusters named after the labelled generators or new.
rule attribution_selected:
    input:
        manifest=rules.ingest.output.manifest,
        clusters=lambda wildcards: list(
            selection_candidates(wildcards.dataset).values()
        ),
        stores=lambda wildcards: sorted(
            {
                store
                for stores in feature_set_stores(wildcards.dataset).values()
                for store in stores
            }
        ),
    output:
        table="results/{dataset}/attribution/selected.tsv",
        candidates="results/{dataset}/attribution/selected_candidates.tsv",
        names="results/{dataset}/attribution/selected_names.tsv",
        submission="results/{dataset}/submissions/attribution_selected.csv",
    log:
        "logs/attribution_selected/{dataset}.log",
    benchmark:
        "results/benchmarks/attribution_selected/{dataset}.tsv"
    conda:
        ENV
    params:
        runs=lambda wildcards: selection_candidates(wildcards.dataset),
        stores=lambda wildcards: feature_set_stores(wildcards.dataset),
        linkage=config["attribution"]["linkage"],
        k_criterion=config["attribution"]["k_criterion"],
        k_max=config["attribution"]["k_max"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/attribution_selected.py"

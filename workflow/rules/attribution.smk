rule attribution_clusters:
    input:
        unpack(feature_stores),
        manifest="results/{dataset}/manifest.tsv",
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

"""The report's region-run figures: score histograms of each crop's run chosen on the
training split, and F1 against k for every run."""

from medimprint.evaluation import read_metrics
from medimprint.report.figures import save_figure
from medimprint.report.membership_figures import auc_against_k, region_figure_data, score_histograms
from medimprint.runtime.jobs import job

with job(snakemake) as log:
    scores, searches = region_figure_data(
        read_metrics([snakemake.input.metrics]),
        snakemake.wildcards.dataset,
        snakemake.params.runs,
    )
    log.info("histograms of %s", list(scores))
    save_figure(score_histograms(scores), snakemake.output.scores)
    save_figure(auc_against_k(searches), snakemake.output.k)

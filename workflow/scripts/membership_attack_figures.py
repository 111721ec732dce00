"""ROC curves of a dataset's method-B runs, attacks and ensemble, the autoencoder's training
curve and error-map examples, for the report."""

from medimprint.data.manifest import read_manifest
from medimprint.io import read_table
from medimprint.membership.autoencoder import load_checkpoint, training_examples
from medimprint.report.figures import save_figure
from medimprint.report.membership_figures import error_examples, roc_figure, training_curve
from medimprint.runtime.jobs import job

with job(snakemake):
    scores = {run: read_table(path) for run, path in snakemake.params.runs.items()}
    save_figure(roc_figure(scores), snakemake.output.roc)
    history = read_table(snakemake.input.history)
    title = f"autoencoder of {snakemake.wildcards.dataset} (generated images)"
    save_figure(training_curve(history, title=title), snakemake.output.training)
    model, meta = load_checkpoint(snakemake.input.model)
    manifest = read_manifest(snakemake.input.manifest)
    examples = training_examples(model, manifest, input_size=meta.get("input_size"))
    save_figure(error_examples(*examples), snakemake.output.examples)

"""A dataset's lung-mask quality (agreement with reference lungs, Dice with the classical
masks) and overlays of its masks on example slices, for the report."""

from medimprint.data.manifest import read_manifest
from medimprint.io import write_table
from medimprint.report.figures import save_figure
from medimprint.runtime.jobs import job
from medimprint.segmentation.quality import segmentation_report

with job(snakemake):
    summary, figure = segmentation_report(
        read_manifest(snakemake.input.manifest),
        snakemake.input.masks,
        reference_manifest=snakemake.input.reference or None,
        classical_store=snakemake.input.classical or None,
    )
    write_table(snakemake.output.summary, summary.assign(dataset=snakemake.wildcards.dataset))
    save_figure(figure, snakemake.output.overlays)

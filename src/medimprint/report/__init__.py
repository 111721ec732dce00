"""The Snakemake report: HTML tables and the figures of each section.

Modules: `tables` (the HTML tables), `figures` (how a figure is written), `attribution_figures`,
`membership_figures`.
"""

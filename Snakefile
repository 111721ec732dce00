from snakemake.utils import min_version

min_version("9.0")


# The built-in demo, unless --configfile names another config (which then replaces it whole).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/build.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/segmentation.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/membership.smk"
include: "workflow/rules/subsets.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),

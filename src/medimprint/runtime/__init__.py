"""What every job shares: set-up (logging, threads, device, clean errors), torch helpers,
checkpoints and progress lines.

Modules: `jobs` (`with job(snakemake)`), `tensors` (torch helpers of the image models),
`checkpoints` (weights-only model files), `progress` (rate and time left in the logs).
"""

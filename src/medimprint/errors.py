"""The one exception type for bad user input."""


class InputError(ValueError):
    """Bad input (file, folder, label file or config value).

    The message names the offending file or key and says how to fix it; workflow scripts let it
    propagate so Snakemake shows it in the job's log.
    """

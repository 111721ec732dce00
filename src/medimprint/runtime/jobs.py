"""Process set-up shared by the workflow's scripts: logging, threads, device, clean errors."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from threadpoolctl import threadpool_limits

from medimprint.errors import InputError

log = logging.getLogger("medimprint")


def setup_job(log_path: str | None, threads: int = 1) -> None:
    """Send stderr and logging to the job's log file; cap BLAS/OpenMP and torch threads."""
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        sys.stderr = open(log_path, "w", buffering=1)  # noqa: SIM115 - lives for the job
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.captureWarnings(True)
    threads = max(1, threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch when it is imported later
    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


@contextlib.contextmanager
def job(smk: Any) -> Iterator[logging.Logger]:
    """Run a workflow script's body: log to ``smk.log``, and turn `InputError` into one clean
    message (in the log and on the console) and exit status 1 instead of a traceback. Any other
    error gets one console line naming the log that holds its traceback, so the console stays
    short without Snakemake's `--show-failed-logs`."""
    log_path = smk.log[0] if len(smk.log) else None
    setup_job(log_path, smk.threads)
    try:
        yield log
    except InputError as err:
        log.error("%s", err)
        print(f"medimprint: error: {err}", file=sys.__stderr__)
        raise SystemExit(1) from None
    except Exception as err:
        where = f"; the traceback is in {log_path}" if log_path else ""
        print(f"medimprint: unexpected {type(err).__name__}: {err}{where}", file=sys.__stderr__)
        raise


def pick_device(requested: str | None = None) -> str:
    """The torch device to use: ``requested`` (checked), else CUDA when present, else CPU."""
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(requested).type
    except RuntimeError:
        raise InputError(
            f"device {requested!r} is not a torch device (use cpu, cuda, cuda:N)"
        ) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {requested!r} requested but CUDA is not available; use cpu")
    return str(requested)

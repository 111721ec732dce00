"""A job's console output: one line per failure, the details in its log."""

from types import SimpleNamespace

import pytest

from medimprint.errors import InputError
from medimprint.runtime.jobs import job


def fake_snakemake(log_path) -> SimpleNamespace:
    return SimpleNamespace(log=[str(log_path)], threads=1)


def test_input_errors_exit_cleanly_and_other_errors_name_their_log(tmp_path, capfd, monkeypatch):
    import logging
    import sys

    monkeypatch.setattr(sys, "stderr", sys.stderr)  # setup_job redirects it to the log
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    log_path = tmp_path / "job.log"
    with pytest.raises(SystemExit) as exit_info, job(fake_snakemake(log_path)):
        raise InputError("images/a.png: not a PNG; re-export it")
    assert exit_info.value.code == 1
    console = capfd.readouterr().err
    assert console.strip() == "medimprint: error: images/a.png: not a PNG; re-export it"
    with pytest.raises(ZeroDivisionError), job(fake_snakemake(log_path)):
        1 / 0  # noqa: B018
    console = capfd.readouterr().err
    assert console.strip() == (
        f"medimprint: unexpected ZeroDivisionError: division by zero; the traceback is in "
        f"{log_path}"
    )

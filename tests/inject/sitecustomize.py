"""Test-only start-up hooks for every Python process of a workflow run (Snakemake and its jobs),
enabled by putting this folder on PYTHONPATH:

- ``MEDIMPRINT_TEST_NO_NETWORK=<folder>``: sockets may not connect anywhere (only AF_UNIX);
  each attempt raises ``OSError`` and is recorded as a file in ``<folder>``.
- ``MEDIMPRINT_TEST_FAIL_RULE=<rule>``: the job of that rule raises ``MemoryError`` (a simulated
  out-of-memory) as soon as its script enters `medimprint.runtime.jobs.job`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid

_record = os.environ.get("MEDIMPRINT_TEST_NO_NETWORK")
if _record:

    def _refuse(what: str, address: object) -> None:
        with open(os.path.join(_record, f"{os.getpid()}-{uuid.uuid4().hex}"), "w") as f:
            f.write(f"{what} {address!r}\n")
        raise OSError(f"network disabled by the test: {what} {address!r}")

    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: object) -> None:
        if self.family != socket.AF_UNIX:
            _refuse("connect", address)
        return _connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family != socket.AF_UNIX:
            _refuse("connect_ex", address)
        return _connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        _refuse("getaddrinfo", host)
        return []

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]

_fail_rule = os.environ.get("MEDIMPRINT_TEST_FAIL_RULE")
if _fail_rule:
    import medimprint.runtime.jobs as _runtime

    _job = _runtime.job

    @contextlib.contextmanager
    def _failing_job(smk):  # the `snakemake` object of a workflow script
        with _job(smk) as log:
            if smk.rule == _fail_rule:
                raise MemoryError(f"simulated out of memory in rule {smk.rule}")
            yield log

    _runtime.job = _failing_job

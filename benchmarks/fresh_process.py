"""Run one benchmark measurement in a fresh interpreter, so its peak memory is its own."""

from __future__ import annotations

import json
import subprocess
import sys


def measure(code: str, args: dict, label: str) -> dict:
    """Run ``code`` (which reads ``json.loads(sys.argv[1])`` and prints one JSON line last) with
    ``args``; return that JSON. A failed measurement stops the benchmark, naming ``label``."""
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"measurement {label} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])

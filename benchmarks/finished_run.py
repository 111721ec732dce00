"""The command line of the scripts that read a finished workflow run: ``--config`` (the config
that was run) and ``--results`` (its outputs), and the datasets of one kind it lists."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of ``doc``, with ``--config`` and
    ``--results``; a script adds its own options."""
    out = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    out.add_argument("--config", required=True, help="the workflow config that was run")
    out.add_argument("--results", default="results", help="the run's results folder")
    return out


def datasets(args: argparse.Namespace, kind: str) -> list[tuple[str, Path]]:
    """``(name, root)`` of each dataset of ``kind`` (membership, attribution, subsets) in the
    config ``args.config``, in its order."""
    config = yaml.safe_load(Path(args.config).read_text())
    return [(name, Path(spec["root"])) for name, spec in config["datasets"].items() if kind in spec]

"""Checks of the workflow config that a JSON schema cannot express."""

from __future__ import annotations

import re
from pathlib import Path

from medimprint.errors import InputError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Backbone weights that are not a file path.
NAMED_WEIGHTS = ("imagenet", "random")


def _check_name(kind: str, name: str) -> None:
    if not NAME.match(name):
        raise InputError(
            f"config: {kind} name {name!r} may contain only letters, digits, '_' and '-' "
            "(it becomes part of output paths); rename it"
        )


def check_config(config: dict) -> None:
    """Raise `InputError` for cross-references and names the schema cannot check."""
    builds = config.get("builds", {})
    for name, build in builds.items():
        _check_name("build", name)
        for db in build["membership"]:
            _check_name(f"builds.{name}.membership database", db)
        pool = build.get("attribution", {}).get("pool")
        if pool is not None and pool not in build["membership"]:
            raise InputError(
                f"config: builds.{name}.attribution.pool is {pool!r}, which is not one of "
                f"builds.{name}.membership ({', '.join(build['membership'])}); name one of them"
            )
        if build["source"] == "slices" and "slices" not in build:
            raise InputError(
                f"config: builds.{name} has source 'slices' but no 'slices: {{glob: ...}}'; "
                "add the glob of your real PNG slices"
            )
    for name, dataset in config["datasets"].items():
        _check_name("dataset", name)
        if "build" in dataset and dataset["build"] not in builds:
            raise InputError(
                f"config: datasets.{name}.build is {dataset['build']!r}, but builds has "
                f"{sorted(builds) or 'no entries'}; add the build or remove the key"
            )
    for name, spec in config["backbones"].items():
        weights = spec.get("weights", "imagenet")
        if weights not in NAMED_WEIGHTS and not Path(weights).is_file():
            raise InputError(
                f"config: backbones.{name}.weights is {weights!r}: not 'imagenet', 'random' "
                "or an existing checkpoint file; fix the path"
            )
    lists = [("attribution.combine", m) for m in config.get("attribution", {}).get("combine", [])]
    lists += [
        (f"{section}.backbones", config[section]["backbones"])
        for section in ("attribution", "membership")
        if "backbones" in config.get(section, {})
    ]
    if "spaces" in config.get("attacks", {}):
        lists.append(("attacks.spaces", config["attacks"]["spaces"]))
    for key, names in lists:
        unknown = [m for m in names if m not in config["backbones"]]
        if unknown:
            raise InputError(
                f"config: {key} lists {unknown}, which backbones does not have "
                f"({', '.join(config['backbones'])}); add them to backbones or drop them"
            )
    checkpoint = config.get("segmentation", {}).get("checkpoint")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise InputError(
            f"config: segmentation.checkpoint {checkpoint!r} is not a file; fix the path, or "
            "remove the key to train the lung UNet on the classical masks"
        )

"""Checks of the workflow config: renamed keys (`upgrade_config`), the JSON schema with short
messages (`check_schema`), and what a schema cannot express (`check_config`)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from medimprint.benchmark.layout import POOLED, attribution_sets
from medimprint.errors import InputError
from medimprint.names import CODE_SPACE

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Backbone weights that are not a file path.
NAMED_WEIGHTS = ("imagenet", "random")
#: Schema problems listed in one error before "... and N more".
MAX_LISTED = 20
#: Top-level config sections renamed, old name -> new name. The old name keeps working, with a
#: deprecation warning, for one release (0.x); ``membership:`` configured only method A, the
#: regions runs, while its sibling membership methods have their own sections.
RENAMED_SECTIONS = {"membership": "regions"}


def _check_name(kind: str, name: str) -> None:
    if not NAME.match(name):
        raise InputError(
            f"config: {kind} name {name!r} may contain only letters, digits, '_' and '-' "
            "(it becomes part of output paths); rename it"
        )


def upgrade_config(config: dict) -> list[str]:
    """Move renamed sections (`RENAMED_SECTIONS`) to their new names, in place, before the
    schema sees them; return one deprecation warning per old name met. Both names at once are
    refused, since one would silently win."""
    warnings = []
    for old, new in RENAMED_SECTIONS.items():
        if old not in config:
            continue
        if new in config:
            raise InputError(
                f"config: both {old!r} and {new!r} are given; {old!r} is the old name of {new!r}, "
                f"so merge its keys into {new!r} and remove {old!r}"
            )
        config[new] = config.pop(old)
        warnings.append(
            f"config: the section {old!r} is now called {new!r}; rename it (the old name will "
            "stop working in a later release)"
        )
    return warnings


def check_config(config: dict) -> None:
    """Raise `InputError` for cross-references and names the schema cannot check."""
    builds = config.get("builds", {})
    for name, build in builds.items():
        _check_name("build", name)
        for db in build["membership"]:
            _check_name(f"builds.{name}.membership database", db)
        for _folder, key, spec in attribution_sets(build):
            pool = spec.get("pool")
            if pool is not None and pool not in build["membership"]:
                raise InputError(
                    f"config: builds.{name}.{key}.pool is {pool!r}, which is not one of "
                    f"builds.{name}.membership ({', '.join(build['membership'])}); name one of "
                    "them"
                )
        subsets = build.get("subsets") or {}
        strangers = [db for db in subsets.get("databases", []) if db not in build["membership"]]
        if strangers:
            raise InputError(
                f"config: builds.{name}.subsets.databases lists {strangers}, which are not in "
                f"builds.{name}.membership ({', '.join(build['membership'])}); each subset is "
                "one membership database's used images"
            )
        if subsets.get("null") and POOLED in build["membership"]:
            raise InputError(
                f"config: builds.{name}.membership: the database name {POOLED!r} is taken by "
                "the null subsets set's model; rename the database"
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
        for section in ("attribution", "regions")
        if "backbones" in config.get(section, {})
    ]
    if "spaces" in config.get("subsets", {}):
        lists.append(("subsets.spaces", config["subsets"]["spaces"]))
    if "spaces" in config.get("attacks", {}):
        spaces = [s for s in config["attacks"]["spaces"] if s != CODE_SPACE]
        lists.append(("attacks.spaces", spaces))
    if CODE_SPACE in config["backbones"]:
        raise InputError(
            f"config: backbones.{CODE_SPACE}: the name is taken by the autoencoder's code space "
            "of attacks.spaces; rename the backbone"
        )
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


def check_schema(config: Mapping[str, Any], schema_path: str | os.PathLike) -> None:
    """Validate ``config`` against the workflow's JSON schema; raise one `InputError` listing
    every problem, each with its key and the fix.

    Run it before Snakemake's `validate` (which fills in the defaults): that one stops at the
    first problem and prints the whole schema with it.
    """
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = Draft202012Validator(schema).iter_errors(config)
    problems = sorted({line for error in errors for line in _explain(error)})
    if problems:
        lines = [f"  - {problem}" for problem in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
        raise InputError(
            f"config: {len(problems)} problem(s) found; fix them and rerun:\n" + "\n".join(lines)
        )


def _explain(error: Any) -> list[str]:
    """One line per problem of a jsonschema ``ValidationError``: the key, what is wrong, the fix."""
    where = _key(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = list(error.schema.get("properties", {}))
        return [
            f"{_key([*error.absolute_path, key])}: unknown key{_guess(key, allowed)}; rename or "
            f"remove it (allowed here: {', '.join(allowed)})"
            for key in error.instance
            if key not in allowed
        ]
    if error.validator == "enum":
        values = [str(value) for value in error.validator_value]
        what = "name" if "propertyNames" in error.schema_path else "value"
        return [
            f"{where}: unknown {what} {error.instance!r}{_guess(error.instance, values)}; use one "
            f"of: {', '.join(values)}"
        ]
    if error.validator == "oneOf" and all(set(s) == {"required"} for s in error.validator_value):
        keys = [key for option in error.validator_value for key in option["required"]]
        return [f"{where}: give exactly one of the keys {' or '.join(map(repr, keys))}"]
    if error.validator == "required":
        return [f"{where}: {error.message}; add it"]
    message = error.message if len(error.message) <= 160 else error.message[:160] + "..."
    return [f"{where}: {message}; fix the value"]


def _key(path: Iterable[Any]) -> str:
    """A config key path as written in messages: ``regions.k[1]``."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key or "config (top level)"


def _guess(word: Any, options: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the option closest to a misspelt ``word``, else ``""``."""
    match = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""

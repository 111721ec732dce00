"""Config checks beyond the schema."""

import copy
from pathlib import Path

import pytest
import yaml

from medimprint.config import check_config
from medimprint.errors import InputError


@pytest.fixture
def config():
    with open(Path(__file__).parents[1] / "config" / "config.yaml") as f:
        return yaml.safe_load(f)


def test_default_config_passes(config):
    check_config(config)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["datasets"]["demo_db1"].update(build="nope"), "datasets.demo_db1.build"),
        (lambda c: c["builds"]["demo"]["attribution"].update(pool="db9"), "attribution.pool"),
        (lambda c: c["datasets"].update({"bad name": c["datasets"]["demo_db1"]}), "bad name"),
        (lambda c: c["backbones"]["lbp"].update(weights="/no/such.pt"), "backbones.lbp.weights"),
    ],
)
def test_bad_config_names_the_key(config, edit, message):
    bad = copy.deepcopy(config)
    edit(bad)
    with pytest.raises(InputError, match=message.replace(".", r"\.")):
        check_config(bad)

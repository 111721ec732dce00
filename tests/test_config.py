"""Config checks beyond the schema."""

import copy

import pytest
import yaml
from conftest import REPO

from medimprint.config import check_config, upgrade_config
from medimprint.errors import InputError


@pytest.fixture
def config():
    """The full demo grid: every section the checks below edit."""
    with open(REPO / "config" / "demo-full.yaml") as f:
        return yaml.safe_load(f)


def test_default_config_passes(config):
    check_config(config)
    check_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))


def test_a_build_may_serve_membership_only(config):
    """The real-CT benchmark's interleaved build has no attribution part."""
    del config["builds"]["demo"]["attribution"]
    config["datasets"] = {"demo_db1": config["datasets"]["demo_db1"]}
    check_config(config)
    with open(REPO / "config" / "luna16.yaml") as f:
        check_config(yaml.safe_load(f))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["datasets"]["demo_db1"].update(build="nope"), "datasets.demo_db1.build"),
        (lambda c: c["builds"]["demo"]["attribution"].update(pool="db9"), "attribution.pool"),
        (lambda c: c["datasets"].update({"bad name": c["datasets"]["demo_db1"]}), "bad name"),
        (lambda c: c["backbones"]["lbp"].update(weights="/no/such.pt"), "backbones.lbp.weights"),
        (lambda c: c.update(regions={"backbones": ["vgg16"]}), "regions.backbones lists"),
        (lambda c: c.update(attribution={"backbones": ["dct", "x"]}), "attribution.backbones"),
        (lambda c: c.update(segmentation={"checkpoint": "/no/unet.pt"}), "segmentation.checkpoint"),
    ],
)
def test_bad_config_names_the_key(config, edit, message):
    bad = copy.deepcopy(config)
    edit(bad)
    with pytest.raises(InputError, match=message.replace(".", r"\.")):
        check_config(bad)


def test_schema_default_k_criterion_is_the_measured_one():
    from medimprint.attribution.k_estimation import DEFAULT_CRITERION

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    k_criterion = schema["properties"]["attribution"]["properties"]["k_criterion"]
    assert k_criterion["default"] == DEFAULT_CRITERION


def test_combination_of_an_unlisted_backbone_is_refused():
    config = {
        "datasets": {"d": {"root": "x"}},
        "backbones": {"lbp": {}},
        "attribution": {"combine": [["lbp", "dct"]]},
    }
    with pytest.raises(InputError, match=r"attribution.combine lists \['dct'\]"):
        check_config(config)


def test_autoencoder_code_space_is_an_attack_space_not_a_backbone(config):
    assert "autoencoder" in config["attacks"]["spaces"]
    check_config(config)  # listed in attacks.spaces without being a backbone
    config["backbones"]["autoencoder"] = {}
    with pytest.raises(InputError, match=r"backbones\.autoencoder: the name is taken"):
        check_config(config)


def test_the_old_section_name_still_works_with_a_warning(config):
    """``membership:`` (method A's section before it was ``regions:``) is read for one release."""
    regions = config.pop("regions")
    config["membership"] = copy.deepcopy(regions)
    warnings = upgrade_config(config)
    assert config["regions"] == regions and "membership" not in config
    assert warnings == [
        "config: the section 'membership' is now called 'regions'; rename it (the old name will "
        "stop working in a later release)"
    ]
    assert upgrade_config(config) == []  # the new name: nothing to say
    config["membership"] = {}
    with pytest.raises(InputError, match="both 'membership' and 'regions' are given"):
        upgrade_config(config)

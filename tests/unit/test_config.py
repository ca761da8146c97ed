"""The shipped configs validate; every schema key is documented; semantic checks."""

from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from ecgssl.config.validate import check_config
from ecgssl.util.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _load(path):
    return yaml.safe_load(Path(path).read_text())


@pytest.mark.parametrize("config", ["config.yaml", "configs/paper.yaml"])
def test_shipped_configs_validate(config):
    validate(_load(REPO / config), str(SCHEMA))


def _leaves(schema, defs, path=""):
    """Yield (path, property schema) for every leaf key of the schema."""
    for name, prop in schema.get("properties", {}).items():
        resolved = dict(prop)
        if "$ref" in prop:
            resolved = {**defs[prop["$ref"].split("/")[-1]], **prop}
        if resolved.get("type") == "object" and "properties" in resolved:
            yield from _leaves(resolved, defs, f"{path}{name}.")
        else:
            yield f"{path}{name}", resolved


def test_every_leaf_key_has_description_and_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    leaves = list(_leaves(schema, schema["$defs"]))
    assert len(leaves) > 60
    undocumented = [p for p, s in leaves if not s.get("description")]
    no_default = [p for p, s in leaves if "default" not in s]
    assert undocumented == []
    assert no_default == []


def test_unknown_key_is_named():
    cfg = _load(REPO / "config.yaml")
    cfg["preprocess"]["filtr"] = {}
    with pytest.raises(Exception, match="filtr"):
        validate(cfg, str(SCHEMA))


def test_wrong_type_is_rejected():
    cfg = _load(REPO / "config.yaml")
    cfg["preprocess"]["window_s"] = "ten"
    with pytest.raises(Exception, match="ten"):
        validate(cfg, str(SCHEMA))


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            lambda c, t: c["datasets"]["dreamer"].update(source="raw"),
            "datasets.dreamer.path",
        ),
        (
            lambda c, t: c["datasets"]["wesad"].update(source="raw", path=str(t / "x")),
            "datasets.wesad.path",
        ),
        (
            lambda c, t: (c["datasets"].pop("swell"), c["pretext"].pop("datasets")),
            "labels.swell",
        ),
        (
            lambda c, t: c["labels"]["wesad"]["affect"].update(schemes=["binary"]),
            "labels.wesad.affect.threshold",
        ),
        (
            lambda c, t: c["pretext"].update(datasets=["dreamer", "x"]),
            "pretext.datasets",
        ),
    ],
)
def test_semantic_mistakes_name_the_key(change, key, tmp_path):
    cfg = _load(REPO / "config.yaml")
    change(cfg, tmp_path)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_config(cfg)


def test_existing_raw_folder_is_accepted(tmp_path):
    cfg = _load(REPO / "config.yaml")
    cfg["datasets"]["dreamer"].update(source="raw", path=str(tmp_path))
    check_config(cfg)


def test_scope_mistake_names_the_key():
    cfg = _load(REPO / "config.yaml")
    cfg["pretext"]["scope"] = "leave_dataset_out"
    cfg["pretext"]["datasets"] = ["wesad"]
    with pytest.raises(ConfigError, match=r"pretext\.scope"):
        check_config(cfg)


def test_library_config_classes_take_their_defaults_from_the_schema():
    """A key left out of config.yaml and an argument left out of a call agree."""
    from dataclasses import asdict

    from ecgssl.config.defaults import defaults
    from ecgssl.config.plan import PRETEXT_WORKFLOW_KEYS
    from ecgssl.data.preprocess import PreprocessConfig
    from ecgssl.learning.finetune import FinetuneConfig
    from ecgssl.learning.pretrain import PretextConfig

    pretext = {
        k: v for k, v in defaults("pretext").items() if k not in PRETEXT_WORKFLOW_KEYS
    }
    assert PretextConfig().to_dict() == pretext
    assert FinetuneConfig().to_dict() == defaults("$defs.train")
    assert asdict(PreprocessConfig()) == defaults("preprocess")
    assert defaults("$defs.train")["depth"] == 2
    with pytest.raises(KeyError, match="no schema entry"):
        defaults("pretext.nope")

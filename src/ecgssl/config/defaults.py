"""Defaults of the configuration, read from the schema (the one place they live).

The library's config classes (:class:`~ecgssl.learning.pretrain.PretextConfig`,
:class:`~ecgssl.learning.finetune.FinetuneConfig`,
:class:`~ecgssl.data.preprocess.PreprocessConfig`, ...) take their field defaults
from here, so that a key left out of ``config.yaml`` and an argument left out of a
library call mean the same thing.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SCHEMA_PATH", "defaults", "schema"]

#: The configuration's JSON schema (draft 2020-12), with a default for every key.
SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


@cache
def schema() -> dict[str, Any]:
    """The parsed schema (cached; do not modify it)."""
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _node(path: str) -> dict[str, Any]:
    node: dict[str, Any] = schema()
    for part in path.split("."):
        if part == "$defs":
            node = node["$defs"]
            continue
        node = _resolve(node)
        container = node.get("properties", node)
        if part not in container:
            raise KeyError(f"no schema entry {path!r} (at {part!r})")
        node = container[part]
    return _resolve(node)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}


def _value(node: dict[str, Any]) -> Any:
    node = _resolve(node)
    if "properties" in node and node["properties"]:
        return {name: _value(child) for name, child in node["properties"].items()}
    return copy.deepcopy(node.get("default"))


def defaults(path: str) -> Any:
    """Default value of a configuration entry, objects filled key by key.

    Parameters
    ----------
    path : str
        Dotted path through the schema's properties, e.g. ``"pretext"``,
        ``"pretext.transforms"``, ``"preprocess.filter"``; ``"$defs.train"`` for a
        shared definition.

    Returns
    -------
    object
        A fresh copy: an object's value is the dict of its properties' defaults.
    """
    return _value(_node(path))

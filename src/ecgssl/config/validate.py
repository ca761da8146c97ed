"""Checks of the workflow configuration beyond its JSON schema."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ecgssl.config.defaults import schema
from ecgssl.config.plan import PRETEXT_SET_KEYS, pretext_configs
from ecgssl.util.errors import ConfigError

__all__ = ["check_config", "check_pretext_override", "check_unique_keys"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader whose ``construct_mapping`` rejects a key given twice.

    PyYAML (and so Snakemake) silently keeps the last of two equal keys, so a
    dataset listed twice would lose its first block without a word. Keys merged in
    with ``<<`` may be overridden, as YAML intends.
    """

    def __init__(self, stream: str, source: Path) -> None:
        super().__init__(stream)
        self.source = source
        self.key_paths: dict[int, str] = {}

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Any, Any]:
        """Construct a mapping after checking that no explicit key repeats."""
        where = self.key_paths.get(id(node), "")
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key; the base class reports it
                continue
            if first is not None:
                dotted = f"{where}.{key}" if where else str(key)
                raise ConfigError(
                    f"{self.source}: line {line}: key '{dotted}' appears twice "
                    f"(first at line {first}); YAML would keep only the last"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _record_key_paths(node: yaml.Node, path: str, out: dict[int, str]) -> None:
    """Map id(mapping node) -> its dotted key path (``[i]`` for list items)."""
    if id(node) in out:  # an alias of a node already seen (maybe recursive)
        return
    if isinstance(node, yaml.MappingNode):
        out[id(node)] = path
        for key_node, value in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            _record_key_paths(value, f"{path}.{name}" if path else name, out)
    elif isinstance(node, yaml.SequenceNode):
        out[id(node)] = path
        for i, item in enumerate(node.value):
            _record_key_paths(item, f"{path}[{i}]", out)


def check_unique_keys(paths: Iterable[str | Path]) -> None:
    """Fail on a key given twice within one YAML (or JSON) config file.

    Each file is checked on its own: the same key in two files given with
    ``--configfile a.yaml --configfile b.yaml`` is an override, not a mistake.

    Parameters
    ----------
    paths : iterable of str or Path
        The config files Snakemake read (``workflow.configfiles``); missing ones
        are skipped (Snakemake reports those itself).

    Raises
    ------
    ConfigError
        Naming the file, the line and the dotted key path, e.g.
        ``config.yaml: line 12: key 'datasets.dreamer' appears twice ...``.
    """
    for item in paths:
        path = Path(item)
        if not path.is_file():
            continue
        loader = _UniqueKeyLoader(path.read_text(encoding="utf-8"), path)
        try:
            root = loader.get_single_node()
            if root is not None:
                _record_key_paths(root, "", loader.key_paths)
                loader.construct_document(root)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        finally:
            loader.dispose()


def check_config(config: dict[str, Any]) -> None:
    """Fail before any job starts on mistakes the schema cannot see.

    Raises
    ------
    ConfigError
        Naming the key: a raw or recordings dataset without a ``path`` or whose
        path does not exist, labels or pretext datasets that are not configured
        datasets, labels of a recordings dataset that are not its declared label
        columns, a binary scheme without a threshold, a leave-dataset-out scope
        with one pretext dataset.
    """
    from ecgssl.data.datasets import is_recordings, reader_options

    datasets = config.get("datasets", {})
    for name, ds in datasets.items():
        key = f"datasets.{name}.path"
        source = ds.get("source")
        if source not in ("raw", "recordings"):
            continue
        path = ds.get("path")
        if not path:
            raise ConfigError(
                f"{key}: required when datasets.{name}.source is {source!r}"
            )
        if not Path(path).is_dir():
            raise ConfigError(f"{key}: folder {path!r} does not exist")

    for name, labels in config.get("labels", {}).items():
        if name not in datasets:
            raise ConfigError(f"labels.{name}: {name!r} is not under datasets")
        if is_recordings(name):
            options = reader_options(name, datasets[name])
            declared = list((options.get("labels") or {}).get("columns") or [])
            for label in labels:
                if label not in declared:
                    raise ConfigError(
                        f"labels.{name}.{label}: not a label column of the dataset "
                        f"(datasets.{name}.reader.labels.columns: {declared or 'none'})"
                    )
        for label, spec in labels.items():
            if "binary" in spec.get("schemes", []) and spec.get("threshold") is None:
                raise ConfigError(
                    f"labels.{name}.{label}.threshold: required by the binary scheme"
                )
    _check_pretext(config.get("pretext", {}), list(datasets))


def check_pretext_override(override: dict[str, Any], where: str) -> None:
    """Check the overrides of one named pretext configuration against the schema.

    Every key of the ``pretext`` block but ``name``, ``configs`` and ``sweep`` may be
    overridden, with the type and range the schema gives it (no defaults are filled
    in: what is not overridden is shared).

    Raises
    ------
    ConfigError
        Naming ``where`` and the offending key.
    """
    from jsonschema import Draft202012Validator

    root = schema()
    block = root["properties"]["pretext"]
    properties = {
        k: v for k, v in block["properties"].items() if k not in PRETEXT_SET_KEYS
    }
    validator = Draft202012Validator({
        "$defs": root["$defs"], "type": "object", "additionalProperties": False,
        "properties": properties,
    })  # fmt: skip
    errors = sorted(validator.iter_errors(override), key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        path = ".".join([where, *map(str, error.path)])
        raise ConfigError(f"{path}: {error.message}")


def _check_pretext(pretext: dict[str, Any], datasets: list[str]) -> None:
    """Overrides, sweeps, names, datasets and scope of every pretext configuration."""
    for name, override in (pretext.get("configs") or {}).items():
        check_pretext_override(override or {}, f"pretext.configs.{name}")
    for prefix, grid in (pretext.get("sweep") or {}).items():
        for key, values in grid.items():
            for value in values:
                *parents, leaf = key.split(".")
                nested: dict[str, Any] = {leaf: value}
                for part in reversed(parents):
                    nested = {part: nested}
                check_pretext_override(nested, f"pretext.sweep.{prefix}.{key}")
    configs = pretext_configs(pretext)
    single = (
        len(configs) == 1 and not pretext.get("configs") and not pretext.get("sweep")
    )
    for name, settings in configs.items():
        which = "" if single else f" (configuration {name!r})"
        for dataset in settings.get("datasets") or []:
            if dataset not in datasets:
                raise ConfigError(
                    f"pretext.datasets{which}: {dataset!r} is not under datasets"
                )
        pretext_datasets = settings.get("datasets") or datasets
        if settings.get("scope") == "leave_dataset_out" and len(pretext_datasets) < 2:
            raise ConfigError(
                f"pretext.scope{which}: leave_dataset_out needs at least two pretext "
                f"datasets (got {pretext_datasets})"
            )

"""Checks of the workflow configuration beyond its JSON schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecgssl.errors import ConfigError
from ecgssl.seeds import stable_seed

__all__ = ["check_config", "stable_seed"]


def check_config(config: dict[str, Any]) -> None:
    """Fail before any job starts on mistakes the schema cannot see.

    Raises
    ------
    ConfigError
        Naming the key: a raw dataset without a ``path`` or whose path does not exist,
        labels or pretext datasets that are not configured datasets, a binary scheme
        without a threshold.
    """
    datasets = config.get("datasets", {})
    for name, ds in datasets.items():
        key = f"datasets.{name}.path"
        if ds.get("source") != "raw":
            continue
        path = ds.get("path")
        if not path:
            raise ConfigError(f"{key}: required when datasets.{name}.source is 'raw'")
        if not Path(path).is_dir():
            raise ConfigError(f"{key}: folder {path!r} does not exist")

    for name in config.get("pretext", {}).get("datasets") or []:
        if name not in datasets:
            raise ConfigError(f"pretext.datasets: {name!r} is not under datasets")
    for name, labels in config.get("labels", {}).items():
        if name not in datasets:
            raise ConfigError(f"labels.{name}: {name!r} is not under datasets")
        for label, spec in labels.items():
            if "binary" in spec.get("schemes", []) and spec.get("threshold") is None:
                raise ConfigError(
                    f"labels.{name}.{label}.threshold: required by the binary scheme"
                )
    finetune = config.get("finetune", {})
    for method in ("supervised", "ssl_finetune"):
        if finetune.get(method, {}).get("feature_norm", "none") != "none":
            raise ConfigError(
                f"finetune.{method}.feature_norm: only ssl_frozen works on features"
            )

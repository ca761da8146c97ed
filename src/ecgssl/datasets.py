"""The dataset registry: name -> reader class and synthetic writer.

Adding a dataset means adding a reader module under ``ecgssl.readers``, a writer module
under ``ecgssl.synthetic`` and one entry here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ecgssl.errors import ConfigError
from ecgssl.readers.base import Reader

# name -> (reader module, reader class); the synthetic writer is ecgssl.synthetic.<name>
REGISTRY: dict[str, tuple[str, str]] = {
    "dreamer": ("ecgssl.readers.dreamer", "DreamerReader"),
    "wesad": ("ecgssl.readers.wesad", "WesadReader"),
    "amigos": ("ecgssl.readers.amigos", "AmigosReader"),
    "swell": ("ecgssl.readers.swell", "SwellReader"),
}
DATASETS = tuple(REGISTRY)


def _check(name: str) -> None:
    if name not in REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def reader_class(name: str) -> type[Reader]:
    """Return the reader class of a dataset."""
    _check(name)
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def open_reader(name: str, root: Path, options: dict[str, Any] | None = None) -> Reader:
    """Open a dataset folder with its reader and the reader options from config."""
    return reader_class(name)(Path(root), **(options or {}))


def write_synthetic(
    name: str, out_dir: Path, *, seed: int, **options: Any
) -> list[Path]:
    """Write a synthetic copy of a dataset in its native raw format."""
    _check(name)
    writer = importlib.import_module(f"ecgssl.synthetic.{name}")
    return writer.write(Path(out_dir), seed=seed, **options)

"""The dataset registry: name -> reader class and synthetic writer module.

Adding a dataset means adding a reader module under ``ecgssl.data.readers``, a
writer module under ``ecgssl.data.synthetic`` and one entry here. The workflow takes
each dataset's reader and writer modules from this table to know which library files
its store and its synthetic copy depend on.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgssl.data.readers.base import Reader
from ecgssl.util.errors import ConfigError


@dataclass(frozen=True)
class DatasetEntry:
    """Where a dataset's code lives.

    Attributes
    ----------
    reader_module : str
        Module holding the reader class.
    reader_class : str
        Name of the class implementing :class:`ecgssl.data.readers.base.Reader`.
    writer_module : str
        Module whose ``write(out_dir, *, seed, **options)`` writes a synthetic copy
        in the dataset's native raw format.
    """

    reader_module: str
    reader_class: str
    writer_module: str


REGISTRY: dict[str, DatasetEntry] = {
    "dreamer": DatasetEntry(
        "ecgssl.data.readers.dreamer", "DreamerReader", "ecgssl.data.synthetic.dreamer"
    ),
    "wesad": DatasetEntry(
        "ecgssl.data.readers.wesad", "WesadReader", "ecgssl.data.synthetic.wesad"
    ),
    "amigos": DatasetEntry(
        "ecgssl.data.readers.amigos", "AmigosReader", "ecgssl.data.synthetic.amigos"
    ),
    "swell": DatasetEntry(
        "ecgssl.data.readers.swell", "SwellReader", "ecgssl.data.synthetic.swell"
    ),
}
DATASETS = tuple(REGISTRY)


def entry(name: str) -> DatasetEntry:
    """Return the registry entry of a dataset.

    Raises
    ------
    ecgssl.util.errors.ConfigError
        For a name that is not registered.
    """
    if name not in REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return REGISTRY[name]


def reader_class(name: str) -> type[Reader]:
    """Return the reader class of a dataset."""
    spec = entry(name)
    return getattr(importlib.import_module(spec.reader_module), spec.reader_class)


def open_reader(name: str, root: Path, options: dict[str, Any] | None = None) -> Reader:
    """Open a dataset folder with its reader and the reader options from config."""
    return reader_class(name)(Path(root), **(options or {}))


def write_synthetic(
    name: str, out_dir: Path, *, seed: int, **options: Any
) -> list[Path]:
    """Write a synthetic copy of a dataset in its native raw format."""
    writer = importlib.import_module(entry(name).writer_module)
    return writer.write(Path(out_dir), seed=seed, **options)

"""The dataset registry: name -> reader class and synthetic writer module.

Adding a dataset means adding a reader module under ``ecgssl.data.readers``, a
writer module under ``ecgssl.data.synthetic`` and one entry here. The workflow takes
each dataset's reader and writer modules from this table to know which library files
its store and its synthetic copy depend on.

Every other dataset name is a *recordings* dataset (:data:`RECORDINGS`): a folder of
the user's own ECG files read by :class:`ecgssl.data.readers.recordings.
RecordingsReader` (``source: recordings``), or a synthetic WFDB/EDF copy written by
:mod:`ecgssl.data.synthetic.recordings` (``source: synthetic``).
"""

from __future__ import annotations

import importlib
import re
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
#: The code of every recordings dataset (any name not in :data:`REGISTRY`).
RECORDINGS = DatasetEntry(
    "ecgssl.data.readers.recordings",
    "RecordingsReader",
    "ecgssl.data.synthetic.recordings",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def is_recordings(name: str) -> bool:
    """Whether a dataset name is a recordings dataset (not one of :data:`DATASETS`)."""
    return name not in REGISTRY


def entry(name: str) -> DatasetEntry:
    """Return the registry entry of a dataset (:data:`RECORDINGS` for other names).

    Raises
    ------
    ecgssl.util.errors.ConfigError
        For a name that is neither registered nor a valid recordings dataset name
        (lower-case letters, digits and ``_``, starting with a letter).
    """
    if name in REGISTRY:
        return REGISTRY[name]
    if not _NAME.match(name):
        raise ConfigError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, or a "
            "recordings dataset named with lower-case letters, digits and _"
        )
    return RECORDINGS


def reader_options(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The reader options of a configured dataset (``datasets.<name>`` block).

    For a synthetic recordings dataset, the options that read the synthetic copy
    (:func:`ecgssl.data.synthetic.recordings.reader_options` of its ``synthetic.
    format``), updated by the block's own ``reader`` options that differ from the
    schema's defaults (Snakemake fills every left-out key with its default, which
    must not undo the copy's options).
    """
    options = dict(config.get("reader") or {})
    if is_recordings(name) and config.get("source") == "synthetic":
        from ecgssl.config.defaults import defaults

        writer = importlib.import_module(RECORDINGS.writer_module)
        fmt = (config.get("synthetic") or {}).get("format", "wfdb")
        # keys the schema filled with their defaults do not override the copy's
        default = defaults("$defs.recordings_dataset.reader")
        given = {k: v for k, v in options.items() if v != default.get(k)}
        options = {**writer.reader_options(fmt), **given}
    return options


def reader_class(name: str) -> type[Reader]:
    """Return the reader class of a dataset (recordings datasets included)."""
    spec = entry(name)
    return getattr(importlib.import_module(spec.reader_module), spec.reader_class)


def open_reader(name: str, root: Path, options: dict[str, Any] | None = None) -> Reader:
    """Open a dataset folder with its reader and the reader options from config."""
    if is_recordings(name):
        return reader_class(name)(Path(root), name=name, **(options or {}))
    return reader_class(name)(Path(root), **(options or {}))


def write_synthetic(
    name: str, out_dir: Path, *, seed: int, **options: Any
) -> list[Path]:
    """Write a synthetic copy of a dataset in its native raw format."""
    writer = importlib.import_module(entry(name).writer_module)
    return writer.write(Path(out_dir), seed=seed, **options)

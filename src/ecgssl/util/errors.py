"""Error types raised by the library: every message names the file and the field."""

from __future__ import annotations

from pathlib import Path


class EcgSslError(Exception):
    """Base class of all errors the project raises on purpose."""


class DataFormatError(EcgSslError):
    """A data file is not what its reader expects.

    Parameters
    ----------
    path : str | Path
        The offending file (or folder).
    field : str
        The field, key, variable or header entry that is wrong, e.g. ``"DREAMER.Data"``.
    message : str
        What is wrong with it.
    """

    def __init__(self, path: str | Path, field: str, message: str) -> None:
        self.path = Path(path)
        self.field = field
        self.message = message
        super().__init__(f"{self.path}: field '{field}': {message}")


class ConfigError(EcgSslError):
    """The configuration is invalid; the message names the key."""


class LabelError(EcgSslError):
    """A configured label has no labelled window in a dataset's store.

    The message names the dataset, the label and the reason, e.g.
    ``"swell: label 'stress' has no labelled window: no condition table found"``.
    """

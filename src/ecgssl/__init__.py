"""Self-supervised ECG representation learning for emotion recognition."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ecgssl")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

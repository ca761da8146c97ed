"""Provenance of results: software versions and JSON sidecars."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from ecgssl import __version__
from ecgssl.util.atomic import write_text_atomic


def versions(device: Any) -> dict[str, Any]:
    """Software and hardware provenance of a result."""
    import torch

    return {
        "ecgssl": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
        "device": str(device),
    }


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")

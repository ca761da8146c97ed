"""Model files: encoders (and pretext heads) saved as plain, safely loadable dicts.

Files load with ``torch.load(..., weights_only=True)``: a file that needs arbitrary
Python objects to unpickle is refused, never executed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ecgssl.learning.backbones import BACKBONES
from ecgssl.learning.checkpoint import atomic_torch_save
from ecgssl.learning.pretext import HEADS
from ecgssl.util.checks import check_option, validate_type
from ecgssl.util.errors import DataFormatError

__all__ = [
    "FORMAT",
    "load_encoder",
    "load_pretext_model",
    "save_encoder",
    "save_pretext_model",
]

#: Value of the ``"format"`` key of the files :func:`save_encoder` writes.
FORMAT = "ecgssl-encoder-v1"


def _cpu_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _check_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    if meta is None:
        return {}
    validate_type(meta, Mapping, "meta")
    try:
        # Plain JSON types only, so that the file loads with weights_only=True.
        return json.loads(json.dumps(dict(meta)))
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta must hold only JSON-serialisable values: {err}") from err


def save_pretext_model(
    path: str | Path,
    encoder: nn.Module,
    heads: nn.Module | None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write the encoder (and optionally the pretext heads) to one file, atomically.

    The file is a plain dict ``{"format": "ecgssl-encoder-v1", "backbone": name,
    "method": name or None, "encoder": state_dict, "heads": state_dict or None,
    "config": {"encoder": kwargs, "heads": kwargs or None}, "meta": meta}`` that
    loads with ``torch.load(..., weights_only=True)``; files without ``"backbone"``
    hold the paper's network, files with heads but without ``"method"`` the paper's
    heads.

    Parameters
    ----------
    path : str or Path
        Destination.
    encoder : nn.Module
        The trained encoder, a registered backbone (:mod:`ecgssl.learning.backbones`).
    heads : nn.Module or None
        The pretraining-only module of a method (a class of
        :data:`ecgssl.learning.pretext.HEADS`: the paper's heads, a projection
        head, a masked-patch decoder), or None to store only the encoder.
    meta : dict or None
        Provenance (JSON-serialisable values only).
    """
    if not isinstance(encoder, tuple(BACKBONES.values())):
        raise TypeError(
            f"encoder must be a registered backbone ({', '.join(BACKBONES)}), got "
            f"{type(encoder).__name__}"
        )
    if heads is not None and not isinstance(heads, tuple(HEADS.values())):
        raise TypeError(
            f"heads must be the heads of a registered method ({', '.join(HEADS)}), "
            f"got {type(heads).__name__}"
        )
    obj = {
        "format": FORMAT,
        "backbone": encoder.name,
        "method": None if heads is None else heads.method,
        "encoder": _cpu_state(encoder),
        "heads": None if heads is None else _cpu_state(heads),
        "config": {
            "encoder": dict(encoder.config),
            "heads": None if heads is None else dict(heads.config),
        },
        "meta": _check_meta(meta),
    }
    atomic_torch_save(obj, path)


def save_encoder(
    path: str | Path, encoder: nn.Module, meta: Mapping[str, Any] | None = None
) -> None:
    """Write an encoder file (see :func:`save_pretext_model`, without heads)."""
    save_pretext_model(path, encoder, None, meta)


def _read(path: str | Path, map_location: Any) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such encoder file")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means "not our format"
        raise DataFormatError(
            path,
            "state_dict",
            f"not a torch file that loads safely (weights_only=True): {err}",
        ) from err
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DataFormatError(
            path, "state_dict", f"not an encoder file (no format={FORMAT!r} entry)"
        )
    for key in ("encoder", "config"):
        if not isinstance(obj.get(key), dict):
            raise DataFormatError(path, "state_dict", f"missing or invalid {key!r}")
    return obj


def _build(
    path: str | Path,
    cls: type[nn.Module],
    config: Any,
    state: Any,
    what: str,
) -> nn.Module:
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise DataFormatError(path, "state_dict", f"missing or invalid {what!r}")
    try:
        module = cls(**config)
    except (TypeError, ValueError) as err:
        raise DataFormatError(
            path, "state_dict", f"invalid {what} config {config!r}: {err}"
        ) from err
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as err:
        raise DataFormatError(
            path, "state_dict", f"{what} weights do not fit: {err}"
        ) from err
    module.eval()
    return module


def _backbone_class(path: str | Path, obj: dict[str, Any]) -> type[nn.Module]:
    name = obj.get("backbone", "paper_cnn")  # files before backbones had a name
    if name not in BACKBONES:
        raise DataFormatError(
            path,
            "backbone",
            f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}",
        )
    return BACKBONES[name]


def load_encoder(path: str | Path, map_location: Any = "cpu") -> nn.Module:
    """Rebuild an encoder written by :func:`save_encoder` or :func:`save_pretext_model`.

    Parameters
    ----------
    path : str or Path
        Encoder file.
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    nn.Module
        The backbone, in eval mode.

    Raises
    ------
    ecgssl.util.errors.DataFormatError
        If the file is not an encoder file (not a torch file, needs arbitrary objects
        to unpickle, missing keys, wrong shapes), with field ``"state_dict"``.
    """
    obj = _read(path, map_location)
    encoder = _build(
        path, _backbone_class(path, obj), obj["config"].get("encoder"),
        obj["encoder"], "encoder",
    )  # fmt: skip
    return encoder.to(map_location)


def load_pretext_model(
    path: str | Path,
    map_location: Any = "cpu",
    method: str = "transformation_recognition",
) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """Rebuild the encoder and heads written by :func:`save_pretext_model`.

    Parameters
    ----------
    path : str or Path
        Model file (must include the heads).
    map_location : str or torch.device
        Where to put the weights.
    method : str
        The pretext method whose heads the caller needs (a key of
        :data:`ecgssl.learning.pretext.HEADS`); a file of another method is
        refused.

    Returns
    -------
    encoder : nn.Module
    heads : nn.Module
        Both in eval mode (``PretextHeads`` for the paper's method).
    meta : dict
        The stored provenance.

    Raises
    ------
    ecgssl.util.errors.DataFormatError
        As :func:`load_encoder`, or if the file holds no heads or those of
        another method.
    """
    check_option(method, HEADS, "method")
    obj = _read(path, map_location)
    encoder = _build(
        path, _backbone_class(path, obj), obj["config"].get("encoder"),
        obj["encoder"], "encoder",
    )  # fmt: skip
    if obj.get("heads") is None:
        raise DataFormatError(path, "heads", "the file holds no pretext heads")
    stored = obj.get("method") or "transformation_recognition"
    if stored != method:
        raise DataFormatError(
            path,
            "method",
            f"the file holds the heads of pretext method {stored!r}, not {method!r}",
        )
    heads = _build(
        path, HEADS[stored], obj["config"].get("heads"), obj["heads"], "heads"
    )
    meta = obj.get("meta") or {}
    return encoder.to(map_location), heads.to(map_location), dict(meta)

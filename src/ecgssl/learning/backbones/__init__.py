"""Backbones: networks that map an ECG window to a feature vector, by name.

Every backbone is an ``nn.Module`` with

- keyword-only constructor arguments (its ``config``, JSON-serialisable) plus a
  ``generator`` for the initial weights;
- ``n_features`` (int) and ``name`` (its registry key);
- ``forward(x)``: ``(batch, length)`` or ``(batch, 1, length)`` float32 windows to
  ``(batch, n_features)``;
- ``flops_per_signal(length)``: forward FLOPs of one window (for the benchmarks).

Adding one means a module here and an entry in :data:`BACKBONES`. Registered:
``paper_cnn`` (the paper's network), ``resnet1d18`` (Weimann & Conrad's 1-D
pre-activation ResNet-18), ``patch_transformer`` (a single-lead ST-MEM-style patch
transformer; ``tokens = True`` marks it as usable by the masked methods). See
docs/methods.md.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.backbones.patch_transformer import PatchTransformer
from ecgssl.learning.backbones.resnet1d import ResNet1d18
from ecgssl.util.checks import check_keys, check_option

__all__ = ["BACKBONES", "build_backbone", "check_backbone_params"]

#: Registry: name -> backbone class.
BACKBONES: dict[str, type[nn.Module]] = {
    cls.name: cls for cls in (PaperCNN, ResNet1d18, PatchTransformer)
}


def build_backbone(
    name: str,
    params: dict[str, Any] | None = None,
    *,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Build a registered backbone from its name and constructor arguments.

    Parameters
    ----------
    name : str
        A key of :data:`BACKBONES`.
    params : dict or None
        Constructor arguments (the backbone's ``config``); None: its defaults.
    generator : torch.Generator or None
        Source of the initial weights.

    Returns
    -------
    nn.Module
    """
    check_option(name, BACKBONES, "backbone")
    cls = BACKBONES[name]
    kwargs = dict(params or {})
    return cls(**kwargs, generator=generator)


def check_backbone_params(
    name: str, params: dict[str, Any], *, what: str = "backbone parameters"
) -> dict[str, Any]:
    """Validate ``params`` by building the backbone once (cheap) and return them.

    ``what`` names the config entry in error messages.
    """
    check_option(name, BACKBONES, "backbone")
    params = check_keys(params, _arguments(BACKBONES[name]), what)
    build_backbone(name, params)
    return params


def _arguments(cls: type) -> list[str]:
    return [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "generator"
    ]

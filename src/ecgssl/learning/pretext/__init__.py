"""Self-supervised pretext methods, one module each, selected by name.

- :mod:`~ecgssl.learning.pretext.transformation_recognition`: the paper's method,
  seven binary heads recognising six signal transformations (the default).
- :mod:`~ecgssl.learning.pretext.contrastive`: SimCLR's NT-Xent on two random
  views (crops and the six transformations) with a projection head.
- :mod:`~ecgssl.learning.pretext.masked_reconstruction`: ST-MEM-style masked patch
  modelling (needs the ``patch_transformer`` backbone).
- :mod:`~ecgssl.learning.pretext.latent_prediction`: ECG-JEPA-style prediction of
  the masked patches' embeddings from an EMA target encoder (``patch_transformer``).

Every method is a class with

- ``name`` (its registry key) and ``PARAMS`` (its ``method_params`` and their
  defaults); ``check_params(params)`` validates ``method_params``;
  ``unsupported(backbone_class)`` says why it cannot train a backbone (or None);
- ``build(encoder, config, *, generator, device, precision)`` from a
  :class:`ecgssl.learning.pretrain.PretextConfig`;
- ``model``: an ``nn.Module`` holding ``encoder`` (the backbone handed on) and
  ``heads`` (what only pretraining needs; its class has a ``method`` attribute and
  a JSON ``config``, so model files record and rebuild it);
- ``step(x, generators, micro_batch)``: forward and backward of one batch of
  windows, returning the loss; ``validate(batches, generator)``: history columns
  (``val_...``); ``describe(row)``: the validation part of a progress line.

The training loop that runs them is :func:`ecgssl.learning.pretrain.pretrain`.
See docs/methods.md.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ecgssl.learning.pretext.contrastive import Contrastive, ProjectionHead
from ecgssl.learning.pretext.latent_prediction import (
    LatentPrediction,
    LatentPredictor,
)
from ecgssl.learning.pretext.masked_reconstruction import (
    MaskedReconstruction,
    PatchDecoder,
)
from ecgssl.learning.pretext.transformation_recognition import (
    PretextHeads,
    TransformationRecognition,
)
from ecgssl.util.checks import check_option

__all__ = ["HEADS", "METHODS", "check_method", "check_method_params"]

#: Registry: name -> method class.
METHODS: dict[str, type] = {
    cls.name: cls for cls in (TransformationRecognition, Contrastive,
                              MaskedReconstruction, LatentPrediction)
}  # fmt: skip

#: The pretraining-only module of each method (what model files store as heads).
HEADS: dict[str, type[nn.Module]] = {
    cls.method: cls
    for cls in (PretextHeads, ProjectionHead, PatchDecoder, LatentPredictor)
}


def check_method_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate a method's ``method_params`` (unknown keys, values); return them."""
    check_option(name, METHODS, "method")
    return METHODS[name].check_params(params)


def check_method(name: str, backbone: type) -> None:
    """Raise ValueError if method ``name`` cannot train a ``backbone`` class."""
    check_option(name, METHODS, "method")
    reason = METHODS[name].unsupported(backbone)
    if reason:
        raise ValueError(reason)

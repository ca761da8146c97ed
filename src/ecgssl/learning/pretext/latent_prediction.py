"""Latent prediction: masked patches' embeddings predicted, in the manner of ECG-JEPA.

Kim, *Learning general representation of 12-lead electrocardiogram with a
joint-embedding predictive architecture* (ECG-JEPA, 2024), after I-JEPA (Assran et
al., CVPR 2023). On one lead: the patches of the window are split as in
:mod:`~ecgssl.learning.pretext.masked_reconstruction`; the context encoder (the
backbone) sees the visible patches; a target encoder, an exponential moving average
of the context encoder that gets no gradient, sees every patch; a light transformer
predictor gets the encoded visible tokens plus a learned mask token at every hidden
position and predicts the target encoder's (layer-normalised) tokens there. The loss
is the smooth-L1 distance on the hidden positions only, in latent space rather than
signal space. The encoder handed on is the context encoder.

The target is updated at the start of every step from the weights the previous
optimizer step left (``target = m * target + (1 - m) * encoder``), so it is part of
the model's state: checkpoints carry it and a resumed run equals an uninterrupted
one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.learning.device import autocast
from ecgssl.learning.layers import chunked_backward, kernel_l2
from ecgssl.learning.pretext.masked_reconstruction import (
    MaskedReconstruction,
    PatchDecoder,
)
from ecgssl.util.checks import check_keys, check_number

__all__ = ["LatentPrediction", "LatentPredictor", "LatentNet"]


class LatentPredictor(PatchDecoder):
    """The predictor: a :class:`PatchDecoder` whose outputs are token embeddings.

    Same parameters as :class:`PatchDecoder`, with ``patch`` the width of the
    predicted embeddings (the encoder's ``n_features``).
    """

    method = "latent_prediction"


class LatentNet(nn.Module):
    """Context encoder, predictor and the EMA target encoder."""

    def __init__(self, encoder: nn.Module, heads: LatentPredictor) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads
        self.target = copy.deepcopy(encoder)
        for p in self.target.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """``target = momentum * target + (1 - momentum) * encoder``, in place."""
        for t, s in zip(self.target.parameters(), self.encoder.parameters(),
                        strict=True):  # fmt: skip
            t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)

    def forward(self, x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """Predicted and target tokens, both ``(batch, n_patches, n_features)``."""
        with torch.no_grad():
            target = self.target.encode_tokens(self.target.embed(x))
            target = F.layer_norm(target, target.shape[-1:])
        tokens = self.encoder.embed(x)
        d = tokens.shape[2]
        visible = tokens.gather(1, keep[..., None].expand(-1, -1, d))
        encoded = self.encoder.encode_tokens(visible)
        return self.heads(encoded, keep, tokens.shape[1]), target


class LatentPrediction(MaskedReconstruction):
    """The latent-prediction method as the pretext loop drives it.

    Parameters
    ----------
    encoder : nn.Module
        A backbone with tokens (``patch_transformer``).
    mask_ratio : float
        Share of patches hidden per window (default 0.75).
    momentum : float
        EMA factor of the target encoder (default 0.996, I-JEPA's start value).
    decoder_dim, decoder_depth, decoder_heads : int
        Width, layers and heads of the predictor (default 64, 1, 4).
    l2 : float
        Factor of ``sum(0.5 * ||W||^2)`` over the trained kernels.
    generator : torch.Generator
        Source of the predictor's initial weights.
    device : torch.device
    precision : {"fp32", "bf16"}
    """

    name = "latent_prediction"
    #: method_params and their defaults.
    PARAMS: dict[str, Any] = {**MaskedReconstruction.PARAMS, "momentum": 0.996}

    def __init__(
        self,
        encoder: nn.Module,
        *,
        l2: float,
        generator: torch.Generator,
        device: torch.device,
        precision: str = "fp32",
        **params: Any,
    ) -> None:
        reason = self.unsupported(type(encoder))
        if reason:
            raise ValueError(reason)
        p = {**self.PARAMS, **self.check_params(params)}
        heads = LatentPredictor(
            n_features=encoder.n_features, patch=encoder.n_features,
            dim=p["decoder_dim"], depth=p["decoder_depth"], heads=p["decoder_heads"],
            generator=generator,
        )  # fmt: skip
        self.model = LatentNet(encoder, heads).to(device)
        self.mask_ratio = float(p["mask_ratio"])
        self.momentum = float(p["momentum"])
        self.l2 = l2
        self.device = device
        self.precision = precision

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Validate ``method_params`` (keys of :attr:`PARAMS`); return them."""
        params = check_keys(params, cls.PARAMS, "method_params")
        rest = {k: v for k, v in params.items() if k != "momentum"}
        MaskedReconstruction.check_params(rest)
        if "momentum" in params:
            check_number(params["momentum"], "momentum", minimum=0.0, maximum=1.0)
        return params

    def step(
        self,
        x: Tensor,
        generators: dict[str, torch.Generator],
        micro_batch: int | None,
    ) -> Tensor:
        """Update the target, then forward and backward of one batch; return the loss.

        ``generators["augment"]`` draws the masks (for the whole batch first); with
        ``micro_batch``, windows go through in chunks weighted by their share.
        """
        self.model.update_target(self.momentum)
        keep, masked = self._mask(x, generators["augment"])

        def chunk_loss(rows: slice) -> Tensor:
            with autocast(self.device, self.precision):
                pred, target = self.model(x[rows], keep[rows])
            return _latent_loss(pred, target, masked[rows])

        return chunked_backward(
            x.shape[0], micro_batch, chunk_loss, self.model, self.l2, x.device
        )

    @torch.no_grad()
    def validate(
        self, batches: Iterable[Tensor] | None, generator: torch.Generator
    ) -> dict[str, Any]:
        """Validation objective and the cosine similarity of predicted tokens.

        ``val_loss``: smooth-L1 on hidden positions plus the L2 term, a batch-size
        weighted mean; ``val_cosine``: mean cosine similarity of predicted and target
        tokens at hidden positions.
        """
        if batches is None:
            return {"val_loss": None, "val_cosine": None}
        was_training = self.model.training
        self.model.eval()
        loss_sum, cos_sum, n_rows, n_tokens = 0.0, 0.0, 0, 0
        for x in batches:
            keep, masked = self._mask(x, generator)
            with autocast(self.device, self.precision):
                pred, target = self.model(x, keep)
            loss_sum += float(_latent_loss(pred, target, masked)) * x.shape[0]
            cos = F.cosine_similarity(pred.float(), target.float(), dim=2)[masked]
            cos_sum += float(cos.sum())
            n_rows += x.shape[0]
            n_tokens += cos.numel()
        self.model.train(was_training)
        if n_rows == 0:
            raise ValueError("no windows to evaluate")
        loss = loss_sum / n_rows + self.l2 * float(kernel_l2(self.model, half=True))
        return {"val_loss": loss, "val_cosine": cos_sum / n_tokens}

    @staticmethod
    def describe(row: dict[str, Any]) -> str:
        """The validation part of an epoch's progress line."""
        if row.get("val_loss") is None:
            return "no validation"
        return f"val loss {row['val_loss']:.4f} cosine {row['val_cosine']:.3f}"


def _latent_loss(pred: Tensor, target: Tensor, masked: Tensor) -> Tensor:
    return F.smooth_l1_loss(pred.float()[masked], target.float()[masked])

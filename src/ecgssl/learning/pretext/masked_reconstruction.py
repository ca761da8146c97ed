"""Masked reconstruction: single-lead masked patch modelling in the manner of ST-MEM.

Na, Park, Lee, Kim & Lee, *Guiding masked representation learning to capture
spatio-temporal relationship of electrocardiogram*, ICLR 2024 (ST-MEM), itself a
masked autoencoder (He et al., CVPR 2022) for ECG. Here on one lead: the window is
cut into the patch transformer's patches, a share ``mask_ratio`` of them (drawn per
window) is hidden, the encoder sees only the visible patches' tokens, and a light
transformer decoder gets the encoded visible tokens plus a learned mask token at
every hidden position (with sinusoidal positions) and reconstructs every patch. The
loss is the mean squared error on the hidden patches only. The encoder handed on is
the backbone, which at inference sees all patches (mean-pooled tokens).

Needs a backbone with tokens (``patch_transformer``); a CNN backbone is refused when
the configuration is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ecgssl.learning.backbones.patch_transformer import (
    TransformerLayer,
    init_transformer,
    sincos,
)
from ecgssl.learning.device import autocast
from ecgssl.learning.layers import chunked_backward, default_generator, kernel_l2
from ecgssl.util.checks import check_int, check_keys, check_number

__all__ = ["MaskedNet", "MaskedReconstruction", "PatchDecoder", "draw_mask"]


def draw_mask(
    batch: int, n_patches: int, mask_ratio: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Draw which patches each window keeps visible.

    Parameters
    ----------
    batch, n_patches : int
        Windows and patches per window (at least 2 patches).
    mask_ratio : float
        Share of patches hidden; at least one patch is hidden and one kept.
    generator : torch.Generator
        Source of the draw (CPU or the model's device).

    Returns
    -------
    keep : Tensor, shape (batch, n_keep), int64
        Indices of the visible patches of each window, in increasing order.
    masked : Tensor, shape (batch, n_patches), bool
        True where a patch is hidden.
    """
    if n_patches < 2:
        raise ValueError(f"masking needs at least 2 patches, got {n_patches}")
    n_keep = min(n_patches - 1, max(1, round(n_patches * (1.0 - mask_ratio))))
    noise = torch.rand(batch, n_patches, generator=generator, device=generator.device)
    keep = noise.argsort(dim=1)[:, :n_keep].sort(dim=1).values
    masked = torch.ones(batch, n_patches, dtype=torch.bool, device=keep.device)
    masked.scatter_(1, keep, False)
    return keep, masked


class PatchDecoder(nn.Module):
    """Light transformer decoder: visible tokens + mask tokens -> every patch.

    Parameters
    ----------
    n_features : int
        Encoder token width.
    patch : int
        Samples per patch (the output size per token).
    dim : int
        Decoder width.
    depth : int
        Decoder transformer layers.
    heads : int
        Attention heads.
    mlp_ratio : float
        MLP width relative to ``dim``.
    generator : torch.Generator or None
        Source of the initial weights (Glorot uniform, zero biases, LayerNorm 1/0,
        mask token N(0, 0.02)).
    """

    method = "masked_reconstruction"

    def __init__(
        self,
        *,
        n_features: int = 128,
        patch: int = 64,
        dim: int = 64,
        depth: int = 1,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for value, name in ((n_features, "n_features"), (patch, "patch"),
                            (dim, "dim"), (depth, "depth"),
                            (heads, "heads")):  # fmt: skip
            check_int(value, name, minimum=1)
        mlp_ratio = check_number(mlp_ratio, "mlp_ratio", minimum=0.0,
                                 exclusive_minimum=True)  # fmt: skip
        self.config: dict[str, Any] = {
            "n_features": n_features,
            "patch": patch,
            "dim": dim,
            "depth": depth,
            "heads": heads,
            "mlp_ratio": float(mlp_ratio),
        }
        generator = default_generator(generator)
        with torch.device("meta"):
            self.embed = nn.Linear(n_features, dim)
            self.mask_token = nn.Parameter(torch.empty(1, 1, dim))
            self.layers = nn.ModuleList(
                TransformerLayer(dim, heads, mlp_ratio) for _ in range(depth)
            )
            self.norm = nn.LayerNorm(dim)
            self.out = nn.Linear(dim, patch)
        self.to_empty(device="cpu")
        init_transformer(self, generator)
        with torch.no_grad():
            self.mask_token.copy_(torch.randn(1, 1, dim, generator=generator) * 0.02)

    def forward(self, visible: Tensor, keep: Tensor, n_patches: int) -> Tensor:
        """Reconstruct all patches.

        Parameters
        ----------
        visible : Tensor, shape (batch, n_keep, n_features)
            Encoded visible tokens.
        keep : Tensor, shape (batch, n_keep)
            Their patch indices.
        n_patches : int
            Patches per window.

        Returns
        -------
        Tensor, shape (batch, n_patches, patch)
        """
        v = self.embed(visible)
        b, _, d = v.shape
        full = self.mask_token.to(v.dtype).expand(b, n_patches, d)
        full = full.scatter(1, keep[..., None].expand(-1, -1, d), v)
        full = full + sincos(n_patches, d).to(full.device, full.dtype)
        for layer in self.layers:
            full = layer(full)
        return self.out(self.norm(full))


class MaskedNet(nn.Module):
    """Patch-transformer encoder and decoder: masked windows -> reconstructions."""

    def __init__(self, encoder: nn.Module, heads: PatchDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """Reconstruct every patch of ``x`` from its ``keep`` patches.

        Returns ``(prediction, target)``, both ``(batch, n_patches, patch)``.
        """
        target = self.encoder.patches(x)
        tokens = self.encoder.embed(x)
        d = tokens.shape[2]
        visible = tokens.gather(1, keep[..., None].expand(-1, -1, d))
        encoded = self.encoder.encode_tokens(visible)
        return self.heads(encoded, keep, target.shape[1]), target


def _masked_mse(pred: Tensor, target: Tensor, masked: Tensor) -> Tensor:
    return (pred.float() - target).pow(2).mean(dim=2)[masked].mean()


class MaskedReconstruction:
    """The masked-reconstruction method as the pretext loop drives it.

    Parameters
    ----------
    encoder : nn.Module
        A backbone with tokens (``patch_transformer``).
    mask_ratio : float
        Share of patches hidden per window (ST-MEM: 0.75).
    decoder_dim, decoder_depth, decoder_heads : int
        Width, layers and attention heads of the decoder (default 64, 1, 4).
    l2 : float
        Factor of ``sum(0.5 * ||W||^2)`` over the kernels (the pretext ``l2``).
    generator : torch.Generator
        Source of the decoder's initial weights.
    device : torch.device
    precision : {"fp32", "bf16"}
    """

    name = "masked_reconstruction"
    #: method_params and their defaults.
    PARAMS: dict[str, Any] = {
        "mask_ratio": 0.75,
        "decoder_dim": 64,
        "decoder_depth": 1,
        "decoder_heads": 4,
    }

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
        heads = PatchDecoder(
            n_features=encoder.n_features, patch=encoder.config["patch"],
            dim=p["decoder_dim"], depth=p["decoder_depth"], heads=p["decoder_heads"],
            generator=generator,
        )  # fmt: skip
        self.model = MaskedNet(encoder, heads).to(device)
        self.mask_ratio = float(p["mask_ratio"])
        self.l2 = l2
        self.device = device
        self.precision = precision

    @classmethod
    def unsupported(cls, backbone: type) -> str | None:
        """Why the method cannot train ``backbone`` (None if it can)."""
        if getattr(backbone, "tokens", False):
            return None
        return (
            f"method {cls.name} needs a backbone with patch tokens "
            f"(patch_transformer), not {getattr(backbone, 'name', backbone)}"
        )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Validate ``method_params`` (keys of :attr:`PARAMS`); return them."""
        params = check_keys(params, cls.PARAMS, "method_params")
        if "mask_ratio" in params:
            check_number(params["mask_ratio"], "mask_ratio", minimum=0.0, maximum=1.0,
                         exclusive_minimum=True, exclusive_maximum=True)  # fmt: skip
        for name in ("decoder_dim", "decoder_depth", "decoder_heads"):
            if name in params:
                check_int(params[name], name, minimum=1)
        dim = params.get("decoder_dim", cls.PARAMS["decoder_dim"])
        heads = params.get("decoder_heads", cls.PARAMS["decoder_heads"])
        if dim % heads:
            raise ValueError(
                f"decoder_dim ({dim}) must be a multiple of decoder_heads ({heads})"
            )
        return params

    @classmethod
    def build(
        cls, encoder: nn.Module, config: Any, *, generator: torch.Generator,
        device: torch.device, precision: str,
    ) -> MaskedReconstruction:  # fmt: skip
        """Build from a :class:`ecgssl.learning.pretrain.PretextConfig`."""
        return cls(
            encoder, l2=config.l2, generator=generator, device=device,
            precision=precision, **config.method_params,
        )  # fmt: skip

    def _mask(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        n = self.model.encoder.n_patches(x.shape[1])
        keep, masked = draw_mask(x.shape[0], n, self.mask_ratio, generator)
        return keep.to(x.device), masked.to(x.device)

    def step(
        self,
        x: Tensor,
        generators: dict[str, torch.Generator],
        micro_batch: int | None,
    ) -> Tensor:
        """Forward and backward of one batch (gradients accumulate); return the loss.

        ``generators["augment"]`` draws the masks (for the whole batch first, so
        ``micro_batch`` changes nothing but the rounding). With ``micro_batch``,
        windows go through in chunks, each chunk's loss weighted by its share.
        """
        keep, masked = self._mask(x, generators["augment"])

        def chunk_loss(rows: slice) -> Tensor:
            with autocast(self.device, self.precision):
                pred, target = self.model(x[rows], keep[rows])
            return _masked_mse(pred, target, masked[rows])

        return chunked_backward(
            x.shape[0], micro_batch, chunk_loss, self.model, self.l2, x.device
        )

    @torch.no_grad()
    def validate(
        self, batches: Iterable[Tensor] | None, generator: torch.Generator
    ) -> dict[str, Any]:
        """Validation objective and R^2 of the hidden patches, in eval mode.

        ``val_loss``: mean squared error on hidden patches plus the L2 term;
        ``val_r2``: coefficient of determination of the hidden samples
        (:func:`sklearn.metrics.r2_score`; 0 = predicting their mean).
        """
        from sklearn.metrics import mean_squared_error, r2_score

        if batches is None:
            return {"val_loss": None, "val_r2": None}
        was_training = self.model.training
        self.model.eval()
        preds, targets = [], []
        for x in batches:
            keep, masked = self._mask(x, generator)
            with autocast(self.device, self.precision):
                pred, target = self.model(x, keep)
            preds.append(pred.float()[masked].cpu().numpy().ravel())
            targets.append(target[masked].cpu().numpy().ravel())
        self.model.train(was_training)
        if not preds:
            raise ValueError("no windows to evaluate")
        pred, true = np.concatenate(preds), np.concatenate(targets)
        mse = float(mean_squared_error(true, pred))
        loss = mse + self.l2 * float(kernel_l2(self.model, half=True))
        return {"val_loss": loss, "val_r2": float(r2_score(true, pred))}

    @staticmethod
    def describe(row: dict[str, Any]) -> str:
        """The validation part of an epoch's progress line."""
        if row.get("val_loss") is None:
            return "no validation"
        return f"val loss {row['val_loss']:.4f} masked R2 {row['val_r2']:.3f}"

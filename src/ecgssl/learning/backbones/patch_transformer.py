"""A small patch transformer over one ECG lead, backbone ``patch_transformer``.

The encoder of the masked methods, in the manner of ST-MEM (Na et al., *Guiding
masked representation learning to capture spatio-temporal relationship of
electrocardiogram*, ICLR 2024) reduced to one lead: the window is cut into
non-overlapping patches of ``patch`` samples, each patch is embedded linearly, a
fixed sinusoidal position embedding is added (so any window length that is a
multiple of ``patch`` works), and ``depth`` pre-norm transformer layers
(multi-head self-attention and a GELU MLP) follow, with a final LayerNorm. The
feature vector is the mean of all patch tokens.

The masked methods use the parts: :meth:`PatchTransformer.embed` (patch and
position embeddings), :meth:`PatchTransformer.encode_tokens` (transformer layers
over any subset of tokens).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.learning.layers import default_generator
from ecgssl.util.checks import check_int, check_number

__all__ = ["PatchTransformer", "TransformerLayer", "init_transformer", "sincos"]


def sincos(n_positions: int, dim: int) -> Tensor:
    """Fixed sinusoidal position embeddings (Vaswani et al. 2017), ``(n, dim)``."""
    position = torch.arange(n_positions, dtype=torch.float32)[:, None]
    half = dim // 2
    steps = torch.arange(half, dtype=torch.float32) / half
    freq = torch.exp(-math.log(10000.0) * steps)
    angles = position * freq[None, :]
    out = torch.zeros(n_positions, dim)
    out[:, :half] = torch.sin(angles)
    out[:, half : 2 * half] = torch.cos(angles)
    return out


def init_transformer(module: nn.Module, generator: torch.Generator) -> None:
    """Glorot-uniform linear kernels, zero biases, LayerNorm weight 1 / bias 0.

    The initialisation of MAE/ST-MEM, drawn from ``generator`` in module order.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            weight = torch.empty(layer.weight.shape)
            nn.init.xavier_uniform_(weight, generator=generator)
            with torch.no_grad():
                layer.weight.copy_(weight)
                if layer.bias is not None:
                    layer.bias.zero_()
        elif isinstance(layer, nn.LayerNorm):
            with torch.no_grad():
                layer.weight.fill_(1.0)
                layer.bias.zero_()


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: ``x + MHSA(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads = heads
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, tokens, dim) -> (batch, tokens, dim)."""
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (b, heads, n, d / heads)
        attn = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))

    @staticmethod
    def flops(tokens: int, dim: int, mlp_ratio: float) -> int:
        """Forward FLOPs of one layer on ``tokens`` tokens (matmuls only)."""
        hidden = int(dim * mlp_ratio)
        linear = 2 * tokens * (dim * 3 * dim + dim * dim + 2 * dim * hidden)
        attention = 2 * 2 * tokens * tokens * dim  # q k^T and attn v
        return linear + attention


class PatchTransformer(nn.Module):
    """Patch embedding + sinusoidal positions + transformer layers, mean-pooled.

    Parameters
    ----------
    patch : int
        Samples per patch; the window length must be a multiple (64: 40 patches
        of 0.25 s per 10-s window at 256 Hz).
    dim : int
        Token width (= ``n_features``).
    depth : int
        Transformer layers.
    heads : int
        Attention heads (``dim`` must be a multiple).
    mlp_ratio : float
        Hidden width of the MLPs relative to ``dim``.
    generator : torch.Generator or None
        Source of the initial weights (Glorot uniform, zero biases, LayerNorm 1/0);
        None: a CPU generator seeded with 0.
    """

    name = "patch_transformer"
    #: Marks a backbone whose tokens the masked methods can use.
    tokens = True

    def __init__(
        self,
        *,
        patch: int = 64,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int(patch, "patch", minimum=2)
        check_int(dim, "dim", minimum=2)
        check_int(depth, "depth", minimum=1)
        check_int(heads, "heads", minimum=1)
        mlp_ratio = check_number(mlp_ratio, "mlp_ratio", minimum=0.0,
                                 exclusive_minimum=True)  # fmt: skip
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.config: dict[str, Any] = {
            "patch": patch,
            "dim": dim,
            "depth": depth,
            "heads": heads,
            "mlp_ratio": float(mlp_ratio),
        }
        self.n_features = dim
        with torch.device("meta"):  # PyTorch's own init (global RNG) is skipped
            self.patch_embed = nn.Linear(patch, dim)
            self.layers = nn.ModuleList(
                TransformerLayer(dim, heads, mlp_ratio) for _ in range(depth)
            )
            self.norm = nn.LayerNorm(dim)
        self.to_empty(device="cpu")
        init_transformer(self, default_generator(generator))

    def n_patches(self, length: int) -> int:
        """Patches of a window of ``length`` samples (raises if it does not divide)."""
        check_int(length, "length", minimum=1)
        if length % self.config["patch"]:
            raise ValueError(
                f"window length {length} is not a multiple of the patch length "
                f"{self.config['patch']}"
            )
        return length // self.config["patch"]

    def patches(self, x: Tensor) -> Tensor:
        """``(batch, length)`` or ``(batch, 1, length)`` -> ``(batch, n, patch)``."""
        if x.ndim == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 2:
            raise ValueError(
                f"x must have shape (batch, length) or (batch, 1, length), got "
                f"{tuple(x.shape)}"
            )
        n = self.n_patches(x.shape[1])
        return x.reshape(x.shape[0], n, self.config["patch"])

    def embed(self, x: Tensor) -> Tensor:
        """Patch tokens with positions: ``(batch, length)`` -> ``(batch, n, dim)``."""
        tokens = self.patch_embed(self.patches(x))
        pos = sincos(tokens.shape[1], self.config["dim"]).to(tokens.device)
        return tokens + pos.to(tokens.dtype)

    def encode_tokens(self, tokens: Tensor) -> Tensor:
        """Transformer layers and final LayerNorm over ``(batch, n, dim)`` tokens."""
        for layer in self.layers:
            tokens = layer(tokens)
        return self.norm(tokens)

    def forward(self, x: Tensor) -> Tensor:
        """Encode windows ``(batch, length)`` -> ``(batch, dim)`` (mean of tokens)."""
        return self.encode_tokens(self.embed(x)).mean(dim=1)

    def flops_per_signal(self, length: int) -> int:
        """Forward FLOPs for one window: patch embedding, layers' matmuls, attention.

        Linear layers ``2 * tokens * in * out``; attention ``2 * 2 * tokens^2 * dim``
        (scores and weighted sum); norms, activations, softmax not counted.
        """
        cfg = self.config
        n = self.n_patches(length)
        total = 2 * n * cfg["patch"] * cfg["dim"]
        return total + cfg["depth"] * TransformerLayer.flops(
            n, cfg["dim"], cfg["mlp_ratio"]
        )

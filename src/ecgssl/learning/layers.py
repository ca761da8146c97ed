"""Building blocks shared by the networks: seeded initialisation and dropout.

Every weight and every dropout mask of the library is drawn from an explicit
``torch.Generator``, never from torch's global RNG, so that results depend only on
the seeds the workflow derives.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.util.checks import check_probability, validate_type

__all__ = [
    "GeneratorDropout",
    "chunked_backward",
    "default_generator",
    "init_tf_style",
    "init_torch_default",
    "kernel_l2",
]


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """``generator``, or a CPU generator seeded with 0 when it is None."""
    if generator is None:
        return torch.Generator().manual_seed(0)
    return validate_type(generator, torch.Generator, "generator")


def init_tf_style(module: nn.Module, generator: torch.Generator) -> None:
    """Glorot-uniform kernels and zero biases, the TensorFlow 1.x layer defaults.

    The released code builds its layers with ``tf.layers.conv1d``/``dense`` without an
    initializer, i.e. with these defaults. Drawn on the CPU from ``generator`` in
    module order, so the result does not depend on the global RNG or the device.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d | nn.Linear):
            weight = torch.empty(layer.weight.shape)
            nn.init.xavier_uniform_(weight, generator=generator)
            with torch.no_grad():
                layer.weight.copy_(weight)
                if layer.bias is not None:
                    layer.bias.zero_()


def init_torch_default(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's own default for every Conv/Linear layer, drawn from ``generator``.

    Kaiming-uniform kernels with ``a=sqrt(5)`` and uniform biases in
    ``±1/sqrt(fan_in)``, as ``nn.Linear``/``nn.Conv1d`` initialise themselves, but
    without touching the global RNG. Norm layers get weight 1 and bias 0.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d | nn.Linear):
            weight = torch.empty(layer.weight.shape)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
            fan_in = layer.weight[0].numel()
            with torch.no_grad():
                layer.weight.copy_(weight)
                if layer.bias is not None:
                    bound = 1.0 / math.sqrt(fan_in)
                    bias = torch.empty(layer.bias.shape).uniform_(
                        -bound, bound, generator=generator
                    )
                    layer.bias.copy_(bias)
        elif isinstance(layer, nn.BatchNorm1d | nn.LayerNorm | nn.GroupNorm):
            with torch.no_grad():
                if getattr(layer, "weight", None) is not None:
                    layer.weight.fill_(1.0)
                if getattr(layer, "bias", None) is not None:
                    layer.bias.zero_()


def kernel_l2(module: nn.Module, *, half: bool = False) -> Tensor:
    """Sum of squared kernels: trainable parameters named ``weight`` with >= 2 dims.

    Biases and normalisation parameters are not included.

    Parameters
    ----------
    module : nn.Module
        Any module.
    half : bool
        ``0.5 * ||W||^2`` per kernel (TensorFlow's ``l2_loss``, the pretext network
        of the released code) instead of ``||W||^2`` (Keras' ``l2`` regulariser, its
        emotion network).

    Returns
    -------
    Tensor, scalar
    """
    terms = [
        (0.5 * p.pow(2).sum()) if half else p.pow(2).sum()
        for name, p in module.named_parameters()
        if p.requires_grad and name.rsplit(".", 1)[-1] == "weight" and p.ndim >= 2
    ]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


class GeneratorDropout(nn.Module):
    """Inverted dropout whose mask is drawn from an explicit generator.

    The mask is drawn on the generator's device and moved to the data's, so a CPU
    generator also serves a CUDA model. Without a generator it is ``F.dropout``.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_probability(p, "p")

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Drop and rescale in training mode; identity in eval mode."""
        if not self.training or self.p == 0.0:
            return x
        if generator is None:
            return F.dropout(x, self.p, training=True)
        keep = torch.empty(x.shape, device=generator.device)
        keep = keep.bernoulli_(1.0 - self.p, generator=generator).to(x.device)
        return x * keep / (1.0 - self.p)


def chunked_backward(
    n: int,
    micro_batch: int | None,
    chunk_loss: Callable[[slice], Tensor],
    model: nn.Module,
    l2: float,
    device: torch.device | str,
) -> Tensor:
    """Backward of a batch's loss chunk by chunk; return the loss (detached).

    ``chunk_loss(rows)`` gives the mean loss of the batch rows ``rows``; each chunk's
    mean is weighted by its share of the ``n`` rows and the L2 term
    (``l2 * kernel_l2(model, half=True)``) is added once, to the last chunk, so the
    gradients that accumulate are those of the one-pass objective (up to float
    rounding) at a fraction of the activation memory. ``micro_batch`` None: one pass.
    """
    chunk = n if micro_batch is None else min(micro_batch, n)
    total = torch.zeros((), device=device)
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        part = chunk_loss(rows)
        part = part * ((rows.stop - rows.start) / n)
        if rows.stop >= n and l2 > 0:
            part = part + l2 * kernel_l2(model, half=True).to(part.device)
        part.backward()
        total = total + part.detach()
    return total

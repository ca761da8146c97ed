"""TensorFlow-style "same" convolution with a fast CPU backward for long kernels."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SameConv1d"]


class _SameConvFunction(torch.autograd.Function):
    """ "Same" stride-1 conv1d whose backward is two forward convolutions (CPU path).

    Used for the CPU layers with long kernels (:attr:`SameConv1d.FAST_MIN_KERNEL`,
    i.e. the paper's 32 -> 32 channel, kernel-32 layer). Measured on a 2-core AVX-512
    CPU at 128 signals per pass (torch 2.13, oneDNN): the stock backward of that
    layer ran at ~100 GFLOP/s (weights) and ~128 GFLOP/s (input), against ~140 and
    ~216 here, 387 -> ~200 ms per 128 signals; for the kernel-16 and kernel-8 layers
    the stock weight gradient was faster (214-289 against 111-134 GFLOP/s), so they
    keep it. Both gradients are plain cross-correlations, computed with the forward
    kernel:

    * input gradient: ``conv1d(pad(gy, (right, left)), flip(w).transpose(0, 1))``,
      a "same" convolution with the padding sides swapped;
    * weight gradient: ``conv1d(pad(x).transpose(0, 1), gy.transpose(0, 1))``, the
      batch acting as the channels (output ``(in, out, k)``, transposed back).

    Equal to autograd of ``conv1d(pad(x))`` up to float rounding (tested to 1e-5).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor, left: int, right: int
    ) -> Tensor:
        # Save the unpadded input (usually kept alive by the activation anyway) and
        # pad again in the backward: saving the padded copy costs one activation.
        ctx.save_for_backward(x, weight)
        ctx.pads = (left, right)
        return F.conv1d(F.pad(x, (left, right)), weight, bias)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None, None]:
        x, weight = ctx.saved_tensors
        left, right = ctx.pads
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv1d(
                F.pad(grad, (right, left)), weight.flip(-1).transpose(0, 1)
            )
        if ctx.needs_input_grad[1]:
            xp = F.pad(x, (left, right)).transpose(0, 1)
            grad_w = F.conv1d(xp, grad.transpose(0, 1)).transpose(0, 1)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=(0, 2))
        return grad_x, grad_w, grad_b, None, None


class SameConv1d(nn.Conv1d):
    """Stride-1 Conv1d with TensorFlow ``padding='same'``: left (k-1)//2, right k//2.

    Explicit ``F.pad`` plus an unpadded convolution: PyTorch's ``padding='same'`` is
    much slower in the backward pass. With ``fast_backward`` (on by default, see
    :class:`_SameConvFunction`), CPU training layers with more than one input channel
    and a kernel of at least ``FAST_MIN_KERNEL`` use a backward made of forward
    convolutions; the others, inference, CUDA (cuDNN) and autocast use the stock
    kernels.
    """

    fast_backward: bool = True
    FAST_MIN_KERNEL: int = 32

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0)
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)

    def uses_fast_backward(self, x: Tensor) -> bool:
        """Whether :meth:`forward` takes the custom-backward CPU path for ``x``."""
        return (
            self.fast_backward
            and self.in_channels > 1
            and self.kernel_size[0] >= self.FAST_MIN_KERNEL
            and x.device.type == "cpu"
            and torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu")
        )

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in_channels, time) -> (batch, out_channels, time)."""
        if self.uses_fast_backward(x):
            return _SameConvFunction.apply(x, self.weight, self.bias, *self.pad)
        return super().forward(F.pad(x, self.pad))

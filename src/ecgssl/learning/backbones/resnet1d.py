"""1-D ResNet-18 v2 (pre-activation), backbone ``resnet1d18``.

The network of Weimann & Conrad, *Transfer learning for ECG classification*, Sci Rep
11, 5251 (2021), which pretrains it on Icentia11k: the ResNet-18 of He et al. with
pre-activation blocks (He et al., *Identity mappings in deep residual networks*,
ECCV 2016) and 1-D convolutions. A stem convolution (stride 2) and a max pool
(stride 2), then four stages of two basic blocks, each block
``BN-ReLU-conv(stride s)-BN-ReLU-conv`` plus a shortcut (a strided 1x1 convolution
of the pre-activated input where the shape changes, else the identity); a final
BN-ReLU and a global average pool over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.learning.layers import default_generator, init_torch_default
from ecgssl.util.checks import check_int

__all__ = ["ResNet1d18"]


class _PreActBlock(nn.Module):
    """Pre-activation basic block: two convolutions, identity or 1x1 shortcut."""

    def __init__(self, channels_in: int, channels: int, kernel: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm1d(channels_in)
        self.conv1 = nn.Conv1d(
            channels_in, channels, kernel, stride=stride, padding=kernel // 2,
            bias=False,
        )  # fmt: skip
        self.bn2 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(
            channels, channels, kernel, padding=kernel // 2, bias=False
        )
        self.shortcut = (
            nn.Conv1d(channels_in, channels, 1, stride=stride, bias=False)
            if stride != 1 or channels_in != channels
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        """(batch, channels_in, time) -> (batch, channels, time / stride)."""
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


def _conv_length(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


class ResNet1d18(nn.Module):
    """1-D pre-activation ResNet-18: ECG window -> ``widths[-1]`` features.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for a single ECG lead).
    widths : sequence of int
        Channels of each stage (Weimann & Conrad: 64, 128, 256, 512). The cost
        grows with the square of the widths: the default costs ~1.18 GFLOP per
        2560-sample window forward, 1.75 times the paper's CNN (0.67).
    kernels : sequence of int
        Kernel size of the convolutions of each stage (odd; ``(7, 5, 5, 3)``, the
        sizes of the ResNet-18 of Weimann & Conrad's released code as we read it).
    blocks : int
        Basic blocks per stage (2 for ResNet-18).
    stem_kernel : int
        Kernel of the stride-2 stem convolution (7, as in ResNet).
    generator : torch.Generator or None
        Source of the initial weights (PyTorch's default scheme, drawn from the
        generator; BatchNorm weight 1, bias 0, fresh running statistics); None: a
        CPU generator seeded with 0.
    """

    name = "resnet1d18"

    def __init__(
        self,
        *,
        in_channels: int = 1,
        widths: Sequence[int] = (64, 128, 256, 512),
        kernels: Sequence[int] = (7, 5, 5, 3),
        blocks: int = 2,
        stem_kernel: int = 7,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        widths, kernels = tuple(widths), tuple(kernels)
        check_int(in_channels, "in_channels", minimum=1)
        if len(widths) == 0 or len(widths) != len(kernels):
            raise ValueError(
                "widths and kernels must be non-empty and of equal length, got "
                f"widths={widths} and kernels={kernels}"
            )
        for w in widths:
            check_int(w, "widths", minimum=1)
        for k in (*kernels, stem_kernel):
            check_int(k, "kernels", minimum=1)
            if k % 2 == 0:
                raise ValueError(f"kernel sizes must be odd, got {k}")
        check_int(blocks, "blocks", minimum=1)
        self.config: dict[str, Any] = {
            "in_channels": in_channels,
            "widths": list(widths),
            "kernels": list(kernels),
            "blocks": blocks,
            "stem_kernel": stem_kernel,
        }
        self.n_features = widths[-1]
        with torch.device("meta"):  # PyTorch's own init (global RNG) is skipped
            self.stem = nn.Conv1d(
                in_channels, widths[0], stem_kernel, stride=2,
                padding=stem_kernel // 2, bias=False,
            )  # fmt: skip
            self.pool = nn.MaxPool1d(3, stride=2, padding=1)
            stages = []
            channels = widths[0]
            for i, (width, kernel) in enumerate(zip(widths, kernels, strict=True)):
                stage = []
                for b in range(blocks):
                    stride = 2 if (i > 0 and b == 0) else 1
                    stage.append(_PreActBlock(channels, width, kernel, stride))
                    channels = width
                stages.append(nn.Sequential(*stage))
            self.stages = nn.Sequential(*stages)
            self.norm = nn.BatchNorm1d(channels)
        self.to_empty(device="cpu")
        init_torch_default(self, default_generator(generator))
        for layer in self.modules():
            if isinstance(layer, nn.BatchNorm1d):
                layer.reset_running_stats()

    def forward(self, x: Tensor) -> Tensor:
        """Encode windows.

        Parameters
        ----------
        x : Tensor, shape (batch, length) or (batch, in_channels, length)

        Returns
        -------
        Tensor, shape (batch, n_features)
            Global average over time of the last stage (after BN-ReLU).
        """
        if x.ndim == 2:
            x = x.unsqueeze(1)
        if x.ndim != 3 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(
                "x must have shape (batch, length) or (batch, "
                f"{self.config['in_channels']}, length), got {tuple(x.shape)}"
            )
        x = self.stages(self.pool(self.stem(x)))
        return F.relu(self.norm(x)).mean(dim=2)

    def flops_per_signal(self, length: int) -> int:
        """Forward FLOPs of the convolutions for one signal of ``length`` samples.

        ``2 * out_length * out_channels * in_channels * kernel`` per convolution
        (shortcuts included); batch norm, activations, pooling and the residual
        additions are not counted.

        Raises
        ------
        ValueError
            If ``length`` is too short for the strides.
        """
        check_int(length, "length", minimum=1)
        cfg = self.config

        def conv(time: int, c_in: int, c_out: int, k: int, s: int) -> tuple[int, int]:
            out = _conv_length(time, k, s, k // 2)
            if out < 1:
                raise ValueError(f"length={length} is too short for this encoder")
            return out, 2 * out * c_out * c_in * k

        time, total = conv(length, cfg["in_channels"], cfg["widths"][0],
                           cfg["stem_kernel"], 2)  # fmt: skip
        time = _conv_length(time, 3, 2, 1)
        channels = cfg["widths"][0]
        for i, (width, kernel) in enumerate(
            zip(cfg["widths"], cfg["kernels"], strict=True)
        ):
            for b in range(cfg["blocks"]):
                stride = 2 if (i > 0 and b == 0) else 1
                if stride != 1 or channels != width:
                    total += conv(time, channels, width, 1, stride)[1]
                time, f1 = conv(time, channels, width, kernel, stride)
                _, f2 = conv(time, width, width, kernel, 1)
                total += f1 + f2
                channels = width
        return total

"""The paper's convolutional encoder (Sarkar & Etemad 2020), backbone ``paper_cnn``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ecgssl.learning.backbones.same_conv import SameConv1d
from ecgssl.learning.layers import default_generator, init_tf_style
from ecgssl.util.checks import check_int, check_number

__all__ = ["PaperCNN"]


class PaperCNN(nn.Module):
    """The shared convolutional trunk: 1-D ECG window -> feature vector.

    Blocks of two "same"-padded stride-1 convolutions, each followed by LeakyReLU;
    max pooling (``pool``, ``pool_stride``) after every block but the last, global
    max pooling over time after the last. No batch norm, no dropout. With the
    defaults and 2560 samples the time axis goes 2560 -> 1277 -> 635 -> 1, giving 128
    features.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for a single ECG lead).
    filters : sequence of int
        Output channels of the two convolutions of each block.
    kernels : sequence of int
        Kernel size of each block (same length as ``filters``).
    pool : int
        Max-pooling window between blocks.
    pool_stride : int
        Max-pooling stride.
    negative_slope : float
        LeakyReLU slope.
    generator : torch.Generator or None
        Source of the initial weights (Glorot uniform, zero biases, the TensorFlow
        defaults of the released code); None means a CPU generator seeded with 0.
    """

    name = "paper_cnn"

    def __init__(
        self,
        *,
        in_channels: int = 1,
        filters: Sequence[int] = (32, 64, 128),
        kernels: Sequence[int] = (32, 16, 8),
        pool: int = 8,
        pool_stride: int = 2,
        negative_slope: float = 0.2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        filters = tuple(filters)
        kernels = tuple(kernels)
        check_int(in_channels, "in_channels", minimum=1)
        if len(filters) == 0 or len(filters) != len(kernels):
            raise ValueError(
                "filters and kernels must be non-empty and of equal length, got "
                f"filters={filters} and kernels={kernels}"
            )
        for f in filters:
            check_int(f, "filters", minimum=1)
        for k in kernels:
            check_int(k, "kernels", minimum=1)
        check_int(pool, "pool", minimum=1)
        check_int(pool_stride, "pool_stride", minimum=1)
        negative_slope = check_number(negative_slope, "negative_slope", minimum=0.0)
        self.config: dict[str, Any] = {
            "in_channels": in_channels,
            "filters": list(filters),
            "kernels": list(kernels),
            "pool": pool,
            "pool_stride": pool_stride,
            "negative_slope": float(negative_slope),
        }
        self.n_features = filters[-1]
        self.blocks = nn.ModuleList()
        channels = in_channels
        # In-place activations: the convolutions' backward does not need their
        # output, so this saves one activation per layer. Autograd supports an
        # in-place LeakyReLU only with a positive slope.
        inplace = negative_slope > 0
        with torch.device("meta"):  # PyTorch's own init (global RNG) is skipped
            for n_filters, kernel in zip(filters, kernels, strict=True):
                self.blocks.append(
                    nn.Sequential(
                        SameConv1d(channels, n_filters, kernel),
                        nn.LeakyReLU(negative_slope, inplace=inplace),
                        SameConv1d(n_filters, n_filters, kernel),
                        nn.LeakyReLU(negative_slope, inplace=inplace),
                    )
                )
                channels = n_filters
        self.pool = nn.MaxPool1d(pool, stride=pool_stride)
        self.to_empty(device="cpu")
        init_tf_style(self, default_generator(generator))

    def _as_channels(self, x: Tensor) -> Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        if x.ndim != 3 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(
                "x must have shape (batch, length) or (batch, "
                f"{self.config['in_channels']}, length), got {tuple(x.shape)}"
            )
        return x

    def feature_maps(self, x: Tensor) -> list[Tensor]:
        """Output of each block (after its pooling; the last one before global pool).

        Parameters
        ----------
        x : Tensor, shape (batch, length) or (batch, in_channels, length)

        Returns
        -------
        list of Tensor
            One ``(batch, filters[i], time_i)`` tensor per block.
        """
        x = self._as_channels(x)
        maps = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < len(self.blocks) - 1:
                x = self.pool(x)
            maps.append(x)
        return maps

    def forward(self, x: Tensor) -> Tensor:
        """Encode windows.

        Parameters
        ----------
        x : Tensor, shape (batch, length) or (batch, in_channels, length)
            ECG windows (float32).

        Returns
        -------
        Tensor, shape (batch, n_features)
            Global max over time of the last block.
        """
        return self.feature_maps(x)[-1].amax(dim=2)

    def flops_per_signal(self, length: int) -> int:
        """Forward FLOPs of the convolutions for one signal of ``length`` samples.

        Direct convolution: ``2 * out_length * out_channels * in_channels * kernel``
        per layer (a multiply-add counts as 2), with the pooled lengths of the
        network. Pooling, activations and biases are not counted; the backward pass
        costs about twice the forward.

        Raises
        ------
        ValueError
            If ``length`` is too short for the pooling.
        """
        check_int(length, "length", minimum=1)
        cfg = self.config
        total = 0
        time = length
        channels = cfg["in_channels"]
        n_blocks = len(cfg["filters"])
        for i, (n_filters, kernel) in enumerate(
            zip(cfg["filters"], cfg["kernels"], strict=True)
        ):
            total += 2 * time * n_filters * channels * kernel
            total += 2 * time * n_filters * n_filters * kernel
            channels = n_filters
            if i < n_blocks - 1:
                time = (time - cfg["pool"]) // cfg["pool_stride"] + 1
                if time < 1:
                    raise ValueError(f"length={length} is too short for this encoder")
        return total

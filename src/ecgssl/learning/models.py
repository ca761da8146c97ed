"""The paper's network: convolutional encoder, seven pretext heads, loss and I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.util.atomic import atomic_path
from ecgssl.util.errors import DataFormatError, EcgSslError

__all__ = [
    "FORMAT",
    "TASK_WEIGHTS",
    "Encoder",
    "PretextHeads",
    "PretextNet",
    "atomic_torch_save",
    "conv_flops_per_signal",
    "l2_penalty",
    "load_encoder",
    "load_pretext_model",
    "pretext_loss",
    "save_encoder",
    "save_pretext_model",
]

#: Loss weights of the seven heads, in :data:`ecgssl.learning.transforms.TASKS` order.
TASK_WEIGHTS: tuple[float, ...] = (0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195)

#: Value of the ``"format"`` key of the files :func:`save_encoder` writes.
FORMAT = "ecgssl-encoder-v1"


def _default_generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    return generator


def _init_tf_style(module: nn.Module, generator: torch.Generator) -> None:
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


class _SameConvFunction(torch.autograd.Function):
    """ "Same" stride-1 conv1d whose backward is two forward convolutions (CPU path).

    Used for the CPU layers with long kernels (:attr:`_SameConv1d.FAST_MIN_KERNEL`,
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


class _SameConv1d(nn.Conv1d):
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


def _check_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


class Encoder(nn.Module):
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
        _check_int(in_channels, "in_channels")
        if len(filters) == 0 or len(filters) != len(kernels):
            raise ValueError(
                "filters and kernels must be non-empty and of equal length, got "
                f"filters={filters} and kernels={kernels}"
            )
        for f in filters:
            _check_int(f, "filters")
        for k in kernels:
            _check_int(k, "kernels")
        _check_int(pool, "pool")
        _check_int(pool_stride, "pool_stride")
        if not negative_slope >= 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope!r}")
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
                        _SameConv1d(channels, n_filters, kernel),
                        nn.LeakyReLU(negative_slope, inplace=inplace),
                        _SameConv1d(n_filters, n_filters, kernel),
                        nn.LeakyReLU(negative_slope, inplace=inplace),
                    )
                )
                channels = n_filters
        self.pool = nn.MaxPool1d(pool, stride=pool_stride)
        self.to_empty(device="cpu")
        _init_tf_style(self, _default_generator(generator))

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


class GeneratorDropout(nn.Module):
    """Inverted dropout whose mask is drawn from an explicit generator.

    The mask is drawn on the generator's device and moved to the data's, so a CPU
    generator also serves a CUDA model. Without a generator it is ``F.dropout``.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Drop and rescale in training mode; identity in eval mode."""
        if not self.training or self.p == 0.0:
            return x
        if generator is None:
            return F.dropout(x, self.p, training=True)
        keep = torch.empty(x.shape, device=generator.device)
        keep = keep.bernoulli_(1.0 - self.p, generator=generator).to(x.device)
        return x * keep / (1.0 - self.p)


class _Head(nn.Module):
    """Linear-LeakyReLU-Dropout-Linear-LeakyReLU-Dropout-Linear(1): one binary task."""

    def __init__(
        self, n_features: int, hidden: int, dropout: float, negative_slope: float
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self.drop1 = GeneratorDropout(dropout)
        self.drop2 = GeneratorDropout(dropout)
        self.negative_slope = negative_slope

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(n, n_features) -> (n, 1) logit."""
        h = self.drop1(F.leaky_relu(self.fc1(z), self.negative_slope), generator)
        h = self.drop2(F.leaky_relu(self.fc2(h), self.negative_slope), generator)
        return self.out(h)


class PretextHeads(nn.Module):
    """Seven parallel binary heads ("is this version transformation k?").

    Parameters
    ----------
    n_features : int
        Encoder feature size.
    hidden : int
        Width of the two hidden layers of each head.
    n_tasks : int
        Number of heads.
    dropout : float
        Dropout rate after each hidden layer, in [0, 1).
    negative_slope : float
        LeakyReLU slope.
    generator : torch.Generator or None
        Source of the initial weights (as in :class:`Encoder`).
    """

    def __init__(
        self,
        *,
        n_features: int = 128,
        hidden: int = 128,
        n_tasks: int = 7,
        dropout: float = 0.6,
        negative_slope: float = 0.2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_int(n_features, "n_features")
        _check_int(hidden, "hidden")
        _check_int(n_tasks, "n_tasks")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if not negative_slope >= 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope!r}")
        self.config: dict[str, Any] = {
            "n_features": n_features,
            "hidden": hidden,
            "n_tasks": n_tasks,
            "dropout": float(dropout),
            "negative_slope": float(negative_slope),
        }
        with torch.device("meta"):  # PyTorch's own init (global RNG) is skipped
            self.heads = nn.ModuleList(
                _Head(n_features, hidden, dropout, negative_slope)
                for _ in range(n_tasks)
            )
        self.to_empty(device="cpu")
        _init_tf_style(self, _default_generator(generator))

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Score features.

        Parameters
        ----------
        z : Tensor, shape (n, n_features)
            Encoder features.
        generator : torch.Generator or None
            Source of the dropout masks in training mode (on ``z``'s device); None
            uses PyTorch's default generator.

        Returns
        -------
        Tensor, shape (n, n_tasks)
            One logit per head.
        """
        return torch.cat([head(z, generator) for head in self.heads], dim=1)


class PretextNet(nn.Module):
    """Encoder followed by the pretext heads: (n, length) -> (n, n_tasks) logits."""

    def __init__(self, encoder: Encoder, heads: PretextHeads) -> None:
        super().__init__()
        if encoder.n_features != heads.config["n_features"]:
            raise ValueError(
                f"heads expect {heads.config['n_features']} features but the encoder "
                f"gives {encoder.n_features}"
            )
        self.encoder = encoder
        self.heads = heads

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Score windows.

        Parameters
        ----------
        x : Tensor, shape (n, length) or (n, in_channels, length)
            Signals.
        generator : torch.Generator or None
            Source of the heads' dropout masks in training mode.

        Returns
        -------
        Tensor, shape (n, n_tasks)
            Logits.
        """
        return self.heads(self.encoder(x), generator)


def l2_penalty(model: nn.Module) -> Tensor:
    """Sum of ``0.5 * ||W||^2`` over conv and linear kernels (TF ``l2_loss``).

    Parameters
    ----------
    model : nn.Module
        Any module; biases and other parameters are not included.

    Returns
    -------
    Tensor, scalar
    """
    terms = [
        0.5 * layer.weight.pow(2).sum()
        for layer in model.modules()
        if isinstance(layer, nn.Conv1d | nn.Linear)
    ]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def pretext_loss(
    logits: Tensor,
    targets: Tensor,
    weights: Sequence[float] | Tensor,
    model: nn.Module | None,
    l2: float,
) -> tuple[Tensor, Tensor]:
    """Weighted sum of per-head sigmoid cross-entropies plus an L2 kernel penalty.

    Parameters
    ----------
    logits : Tensor, shape (n, n_tasks)
        Head outputs.
    targets : Tensor, shape (n, n_tasks)
        0/1 targets (one-hot of the version index).
    weights : sequence of float or Tensor, shape (n_tasks,)
        Per-head loss weights, e.g. :data:`TASK_WEIGHTS`.
    model : nn.Module or None
        Module whose conv/linear kernels are penalised; None (or ``l2 == 0``) for no
        penalty.
    l2 : float
        Penalty factor on ``sum(0.5 * ||W||^2)``.

    Returns
    -------
    total : Tensor, scalar
        ``sum_k weights[k] * bce_k + l2 * sum(0.5 * ||W||^2)``.
    per_task : Tensor, shape (n_tasks,)
        Batch-mean binary cross-entropy of each head (not weighted, no penalty).
    """
    if logits.ndim != 2 or logits.shape != targets.shape:
        raise ValueError(
            "logits and targets must both have shape (n, n_tasks), got "
            f"{tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    w = torch.as_tensor(weights, dtype=logits.dtype, device=logits.device)
    if w.shape != (logits.shape[1],):
        raise ValueError(
            f"weights must have {logits.shape[1]} entries, got {tuple(w.shape)}"
        )
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    per_task = F.binary_cross_entropy_with_logits(
        logits, targets.to(logits.dtype), reduction="none"
    ).mean(dim=0)
    total = (w * per_task).sum()
    if model is not None and l2 > 0:
        total = total + l2 * l2_penalty(model).to(total.device)
    return total, per_task


def conv_flops_per_signal(encoder: Encoder, length: int) -> int:
    """Forward FLOPs of the encoder's convolutions for one signal.

    Direct convolution: ``2 * out_length * out_channels * in_channels * kernel`` per
    layer (a multiply-add counts as 2), with the pooled lengths of
    :class:`Encoder`. Pooling, activations and biases are not counted.

    Parameters
    ----------
    encoder : Encoder
        The encoder.
    length : int
        Samples per signal.

    Returns
    -------
    int
    """
    _check_int(length, "length")
    cfg = encoder.config
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


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary sibling file renamed into place.

    A reader never sees a half-written file, and an interrupted write leaves any
    previous file intact.
    """
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as err:  # torch's "file write failed" on a full disk
            raise EcgSslError(f"cannot write {path}: {err}") from err


def _cpu_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _check_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    try:
        # Plain JSON types only, so that the file loads with weights_only=True.
        return json.loads(json.dumps(dict(meta)))
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta must hold only JSON-serialisable values: {err}") from err


def save_pretext_model(
    path: str | Path,
    encoder: Encoder,
    heads: PretextHeads | None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write the encoder (and optionally the pretext heads) to one file, atomically.

    The file is a plain dict ``{"format": "ecgssl-encoder-v1", "encoder": state_dict,
    "heads": state_dict or None, "config": {"encoder": kwargs, "heads": kwargs or
    None}, "meta": meta}`` that loads with ``torch.load(..., weights_only=True)``.

    Parameters
    ----------
    path : str or Path
        Destination.
    encoder : Encoder
        The trained encoder.
    heads : PretextHeads or None
        The pretext heads, or None to store only the encoder.
    meta : dict or None
        Provenance (JSON-serialisable values only).
    """
    if not isinstance(encoder, Encoder):
        raise TypeError(f"encoder must be an Encoder, got {type(encoder).__name__}")
    if heads is not None and not isinstance(heads, PretextHeads):
        raise TypeError(f"heads must be PretextHeads, got {type(heads).__name__}")
    obj = {
        "format": FORMAT,
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
    path: str | Path, encoder: Encoder, meta: Mapping[str, Any] | None = None
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


def load_encoder(path: str | Path, map_location: Any = "cpu") -> Encoder:
    """Rebuild an encoder written by :func:`save_encoder` or :func:`save_pretext_model`.

    Parameters
    ----------
    path : str or Path
        Encoder file.
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    Encoder
        In eval mode.

    Raises
    ------
    ecgssl.util.errors.DataFormatError
        If the file is not an encoder file (not a torch file, needs arbitrary objects
        to unpickle, missing keys, wrong shapes), with field ``"state_dict"``.
    """
    obj = _read(path, map_location)
    encoder = _build(
        path, Encoder, obj["config"].get("encoder"), obj["encoder"], "encoder"
    )
    return encoder.to(map_location)  # type: ignore[return-value]


def load_pretext_model(
    path: str | Path, map_location: Any = "cpu"
) -> tuple[Encoder, PretextHeads, dict[str, Any]]:
    """Rebuild the encoder and heads written by :func:`save_pretext_model`.

    Parameters
    ----------
    path : str or Path
        Model file (must include the heads).
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    encoder : Encoder
    heads : PretextHeads
        Both in eval mode.
    meta : dict
        The stored provenance.

    Raises
    ------
    ecgssl.util.errors.DataFormatError
        As :func:`load_encoder`, or if the file holds no heads.
    """
    obj = _read(path, map_location)
    encoder = _build(
        path, Encoder, obj["config"].get("encoder"), obj["encoder"], "encoder"
    )
    if obj.get("heads") is None:
        raise DataFormatError(path, "heads", "the file holds no pretext heads")
    heads = _build(
        path, PretextHeads, obj["config"].get("heads"), obj["heads"], "heads"
    )
    meta = obj.get("meta") or {}
    return encoder.to(map_location), heads.to(map_location), dict(meta)  # type: ignore[return-value]

"""The six signal transformations of the pretext task, batch-wise in PyTorch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ecgssl.config.defaults import defaults
from ecgssl.util.checks import check_int, check_number

__all__ = [
    "TASKS",
    "TransformParams",
    "add_noise",
    "flip",
    "make_pretext_batch",
    "negate",
    "permute",
    "scale",
    "time_warp",
    "warped_length",
]

#: The seven versions of each signal, in the order of the pretext heads and targets.
TASKS: tuple[str, ...] = (
    "original",
    "noise",
    "scale",
    "negate",
    "flip",
    "permute",
    "time_warp",
)

# ceil() with a tolerance, so that e.g. 10 * 1.1 = 11.000000000000002 gives 11, not 12.
_CEIL_TOL = 1e-9


def _ceil(value: float) -> int:
    return int(math.ceil(value - _CEIL_TOL))


_DEFAULTS = defaults("pretext.transforms")


@dataclass(frozen=True)
class TransformParams:
    """Parameters of the six transformations (defaults: the released code's values).

    Parameters
    ----------
    snr_db : float
        Signal-to-noise ratio of the additive Gaussian noise, in dB.
    scale : float
        Amplitude scaling factor.
    permute_pieces : int
        Number of equal pieces the permutation shuffles.
    warp_pieces : int
        Number of equal pieces of the time warp.
    warp_stretch : float
        Stretch factor of the stretched pieces (the others are squeezed by its inverse).
    """

    snr_db: float = _DEFAULTS["snr_db"]
    scale: float = _DEFAULTS["scale"]
    permute_pieces: int = _DEFAULTS["permute_pieces"]
    warp_pieces: int = _DEFAULTS["warp_pieces"]
    warp_stretch: float = _DEFAULTS["warp_stretch"]

    def __post_init__(self) -> None:
        """Validate the values."""
        check_number(self.snr_db, "snr_db")
        for name in ("scale", "warp_stretch"):
            check_number(getattr(self, name), name, minimum=0.0, exclusive_minimum=True)
        for name in ("permute_pieces", "warp_pieces"):
            check_int(getattr(self, name), name, minimum=1)

    def check_length(self, length: int) -> None:
        """Raise ValueError if these parameters cannot transform signals of ``length``.

        Parameters
        ----------
        length : int
            Number of samples per signal.
        """
        _check_pieces(length, self.permute_pieces, "permute_pieces")
        warped_length(length, self.warp_pieces, self.warp_stretch)


def _check_signals(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (batch, length), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")


def _check_pieces(length: int, pieces: int, name: str) -> int:
    check_int(pieces, name, minimum=1)
    if length // pieces < 1:
        raise ValueError(
            f"{name}={pieces} is larger than the signal length {length}: "
            "pieces would be empty"
        )
    return length // pieces


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device) -> Tensor:
    """Draw U[0, 1) on the generator's device and move the result to ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def add_noise(x: Tensor, snr_db: float, generator: torch.Generator) -> Tensor:
    """Add zero-mean Gaussian noise at a given signal-to-noise ratio.

    Parameters
    ----------
    x : Tensor, shape (batch, length)
        Signals.
    snr_db : float
        Signal-to-noise ratio in dB; the noise power of each signal is
        ``mean(x**2) / 10**(snr_db / 10)``.
    generator : torch.Generator
        Source of the noise (on any device; the noise is moved to ``x.device``).

    Returns
    -------
    Tensor, shape (batch, length)
    """
    _check_signals(x)
    power = x.pow(2).mean(dim=1, keepdim=True)
    std = torch.sqrt(power / 10.0 ** (snr_db / 10.0))
    noise = torch.randn(
        tuple(x.shape), generator=generator, device=generator.device, dtype=x.dtype
    ).to(x.device)
    return x + noise * std


def scale(x: Tensor, factor: float) -> Tensor:
    """Multiply the signals by ``factor``; shape (batch, length) in and out."""
    _check_signals(x)
    return x * factor


def negate(x: Tensor) -> Tensor:
    """Negate the signals (amplitude x -1); shape (batch, length) in and out."""
    _check_signals(x)
    return -x


def flip(x: Tensor) -> Tensor:
    """Reverse the signals in time; shape (batch, length) in and out."""
    _check_signals(x)
    return torch.flip(x, dims=(1,))


def permute(x: Tensor, pieces: int, generator: torch.Generator) -> Tensor:
    """Cut each signal into equal pieces and shuffle them.

    Each signal gets its own random permutation. The pieces are ``length // pieces``
    samples long; a tail of ``length % pieces`` samples stays, unpermuted, at the end
    (the released code drops it, which would change the length).

    Parameters
    ----------
    x : Tensor, shape (batch, length)
        Signals.
    pieces : int
        Number of pieces.
    generator : torch.Generator
        Source of the permutations (on any device).

    Returns
    -------
    Tensor, shape (batch, length)
    """
    _check_signals(x)
    batch, length = x.shape
    piece = _check_pieces(length, pieces, "pieces")
    order = torch.argsort(_uniform((batch, pieces), generator, x.device), dim=1)
    within = torch.arange(piece, device=x.device)
    index = (order[:, :, None] * piece + within).reshape(batch, pieces * piece)
    tail = torch.arange(pieces * piece, length, device=x.device).expand(batch, -1)
    index = torch.cat([index, tail], dim=1)
    return torch.gather(x, 1, index)


def warped_length(length: int, pieces: int, stretch: float) -> int:
    """Length of a time-warped signal before the crop; raise if shorter than ``length``.

    Parameters
    ----------
    length : int
        Samples per input signal.
    pieces : int
        Number of pieces (``length // pieces`` samples each; the tail is dropped).
    stretch : float
        ``ceil(pieces / 2)`` pieces become ``ceil(piece * stretch)`` samples long, the
        others ``ceil(piece / stretch)``.

    Returns
    -------
    int
        Total warped length, at least ``length``.
    """
    piece = _check_pieces(length, pieces, "pieces")
    if not stretch > 0:
        raise ValueError(f"stretch must be > 0, got {stretch!r}")
    n_long = _ceil(pieces / 2)
    total = n_long * _ceil(piece * stretch) + (pieces - n_long) * _ceil(piece / stretch)
    if total < length:
        raise ValueError(
            f"time warp with pieces={pieces} and stretch={stretch} turns {length} "
            f"samples into {total}, fewer than {length}; the warped signal would have "
            "to be padded, which gives the task away. Choose pieces dividing the "
            "length or a larger stretch."
        )
    return total


def time_warp(
    x: Tensor, pieces: int, stretch: float, generator: torch.Generator
) -> Tensor:
    """Stretch half of the pieces and squeeze the others, then crop back to length.

    Each signal is cut into ``pieces`` pieces of ``length // pieces`` samples (the tail
    is dropped). ``ceil(pieces / 2)`` randomly chosen pieces per signal are resampled
    to ``ceil(piece * stretch)`` samples, the others to ``ceil(piece / stretch)``,
    with linear interpolation (the sample-centre convention of ``cv2.resize``, which
    the released code uses, edges clamped within each piece). The pieces are joined
    in their original order and a random window of exactly ``length`` samples is cut
    out. Nothing is padded.

    Parameters
    ----------
    x : Tensor, shape (batch, length)
        Signals.
    pieces : int
        Number of pieces.
    stretch : float
        Stretch factor (> 0).
    generator : torch.Generator
        Source of the piece choice and the crop offset (on any device).

    Returns
    -------
    Tensor, shape (batch, length)

    Raises
    ------
    ValueError
        If the warped signal would be shorter than ``length`` (see
        :func:`warped_length`).
    """
    _check_signals(x)
    batch, length = x.shape
    total = warped_length(length, pieces, stretch)
    piece = length // pieces
    n_long = _ceil(pieces / 2)
    long_len, short_len = _ceil(piece * stretch), _ceil(piece / stretch)
    device = x.device

    # Which pieces are stretched: the n_long smallest of random keys, per signal.
    keys = _uniform((batch, pieces), generator, device)
    rank = torch.argsort(torch.argsort(keys, dim=1), dim=1)
    is_long = rank < n_long  # (batch, pieces)
    out_len = torch.where(is_long, long_len, short_len)  # (batch, pieces)
    ends = torch.cumsum(out_len, dim=1)
    starts = ends - out_len
    offset = torch.floor(
        _uniform((batch,), generator, device) * (total - length + 1)
    ).long()
    offset = offset.clamp_(max=total - length)

    t = offset[:, None] + torch.arange(length, device=device)  # (batch, length)
    k = torch.searchsorted(ends, t, right=True)  # piece index of each output sample
    local = (t - torch.gather(starts, 1, k)).to(x.dtype)
    n_out = torch.gather(out_len, 1, k).to(x.dtype)
    src = ((local + 0.5) * (piece / n_out) - 0.5).clamp(0.0, piece - 1.0)
    lo = torch.floor(src)
    frac = src - lo
    lo = lo.long()
    hi = torch.clamp(lo + 1, max=piece - 1)
    base = k * piece
    left = torch.gather(x, 1, base + lo)
    right = torch.gather(x, 1, base + hi)
    return left + frac * (right - left)


def make_pretext_batch(
    x: Tensor, params: TransformParams, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Build the seven versions of each signal and their one-hot targets.

    Parameters
    ----------
    x : Tensor, shape (batch, length)
        Original signals.
    params : TransformParams
        Transformation parameters.
    generator : torch.Generator
        Source of all randomness (noise, permutations, warps), drawn in that order.

    Returns
    -------
    signals : Tensor, shape (7 * batch, length)
        Version-major: rows ``v * batch + i`` hold version ``TASKS[v]`` of signal
        ``i``.
    targets : Tensor, shape (7 * batch, 7), float
        One-hot of the version index (column ``v`` is the target of head ``v``).
    """
    _check_signals(x)
    if not isinstance(params, TransformParams):
        raise TypeError(
            f"params must be a TransformParams, got {type(params).__name__}"
        )
    batch, length = x.shape
    params.check_length(length)
    versions = [
        x,
        add_noise(x, params.snr_db, generator),
        scale(x, params.scale),
        negate(x),
        flip(x),
        permute(x, params.permute_pieces, generator),
        time_warp(x, params.warp_pieces, params.warp_stretch, generator),
    ]
    signals = torch.cat(versions, dim=0)
    labels = torch.arange(len(TASKS), device=x.device).repeat_interleave(batch)
    targets = torch.nn.functional.one_hot(labels, len(TASKS)).to(x.dtype)
    return signals, targets

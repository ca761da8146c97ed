"""Contrastive pretext task: SimCLR's NT-Xent on two random views of each window.

Chen, Kornblith, Norouzi & Hinton, *A simple framework for contrastive learning of
visual representations*, ICML 2020. Each window gives two views, each a random
resized crop (a random stretch of ``crop_min`` to 100 % of the window, resampled
back to the window length by linear interpolation) followed by the paper's six
transformations (:mod:`ecgssl.learning.transforms`), each applied independently with
probability ``p_transform`` in the order noise, scale, negate, flip, permute,
time warp. The encoder's features go through a 2-layer MLP projection head; the
loss is NT-Xent (normalised temperature-scaled cross-entropy): for each of the
``2 n`` projections, the other view of its window is the positive among the other
``2 n - 1``. The encoder handed on is the backbone without the projection head.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.learning.device import autocast
from ecgssl.learning.layers import default_generator, init_tf_style, kernel_l2
from ecgssl.learning.transforms import (
    TransformParams,
    add_noise,
    flip,
    negate,
    permute,
    scale,
    time_warp,
)
from ecgssl.util.checks import check_int, check_keys, check_number, check_probability

__all__ = [
    "Contrastive",
    "ContrastiveNet",
    "ProjectionHead",
    "nt_xent",
    "random_resized_crop",
    "random_view",
]


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device) -> Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def random_resized_crop(
    x: Tensor, crop_min: float, generator: torch.Generator
) -> Tensor:
    """A random stretch of each signal, resampled back to the full length.

    Parameters
    ----------
    x : Tensor, shape (batch, length)
        Signals.
    crop_min : float
        Smallest crop as a share of the length, in (0, 1]; each signal's share is
        uniform in ``[crop_min, 1]`` and its start uniform over the valid range.
    generator : torch.Generator
        Source of the crop sizes and positions.

    Returns
    -------
    Tensor, shape (batch, length)
        Linear interpolation of the crop at ``length`` evenly spaced points.
    """
    batch, length = x.shape
    if length < 2:
        raise ValueError(f"signals must have at least 2 samples, got {length}")
    share = crop_min + (1.0 - crop_min) * _uniform((batch,), generator, x.device)
    span = share * (length - 1)
    start = _uniform((batch,), generator, x.device) * (length - 1 - span)
    grid = torch.linspace(0.0, 1.0, length, device=x.device)
    pos = (start[:, None] + span[:, None] * grid).to(x.dtype)
    lo = pos.floor().long().clamp(0, length - 2)
    frac = pos - lo
    left = torch.gather(x, 1, lo)
    right = torch.gather(x, 1, lo + 1)
    return left + frac * (right - left)


def random_view(
    x: Tensor,
    params: TransformParams,
    *,
    crop_min: float,
    p_transform: float,
    generator: torch.Generator,
) -> Tensor:
    """One random view of each signal: resized crop, then random transformations.

    Every transformation is computed for the whole batch and kept where a draw
    says so, so the generator advances the same way whatever is drawn.

    Parameters
    ----------
    x : Tensor, shape (batch, length)
    params : TransformParams
        Parameters of the six transformations.
    crop_min : float
        See :func:`random_resized_crop`.
    p_transform : float
        Probability of each transformation, per signal.
    generator : torch.Generator

    Returns
    -------
    Tensor, shape (batch, length)
    """
    x = random_resized_crop(x, crop_min, generator)
    steps = (
        lambda v: add_noise(v, params.snr_db, generator),
        lambda v: scale(v, params.scale),
        negate,
        flip,
        lambda v: permute(v, params.permute_pieces, generator),
        lambda v: time_warp(v, params.warp_pieces, params.warp_stretch, generator),
    )
    for step in steps:
        keep = _uniform((x.shape[0], 1), generator, x.device) < p_transform
        x = torch.where(keep, step(x), x)
    return x


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent loss of two views' projections (SimCLR), mean over the ``2 n`` rows.

    Parameters
    ----------
    z1, z2 : Tensor, shape (n, d)
        Projections of view 1 and view 2 of the same ``n`` windows.
    temperature : float
        Softmax temperature of the cosine similarities.

    Returns
    -------
    Tensor, scalar
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"z1 and z2 must have the same shape (n, d), got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}"
        )
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T) / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    idx = torch.arange(n, device=z.device)
    targets = torch.cat([idx + n, idx])
    return F.cross_entropy(sim, targets)


class ProjectionHead(nn.Module):
    """SimCLR's projection head: Linear-ReLU-Linear, ``n_features -> out``.

    Parameters
    ----------
    n_features : int
        Encoder feature size.
    hidden : int
        Hidden width.
    out : int
        Projection size (the space of the loss).
    generator : torch.Generator or None
        Source of the initial weights (Glorot uniform, zero biases).
    """

    method = "contrastive"

    def __init__(
        self,
        *,
        n_features: int = 128,
        hidden: int = 256,
        out: int = 128,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for value, name in ((n_features, "n_features"), (hidden, "hidden"),
                            (out, "out")):  # fmt: skip
            check_int(value, name, minimum=1)
        self.config: dict[str, Any] = {
            "n_features": n_features,
            "hidden": hidden,
            "out": out,
        }
        with torch.device("meta"):
            self.fc1 = nn.Linear(n_features, hidden)
            self.fc2 = nn.Linear(hidden, out)
        self.to_empty(device="cpu")
        init_tf_style(self, default_generator(generator))

    def forward(self, z: Tensor) -> Tensor:
        """(n, n_features) -> (n, out)."""
        return self.fc2(F.relu(self.fc1(z)))


class ContrastiveNet(nn.Module):
    """Encoder followed by the projection head: (n, length) -> (n, out)."""

    def __init__(self, encoder: nn.Module, heads: ProjectionHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, x: Tensor) -> Tensor:
        """Project windows."""
        return self.heads(self.encoder(x))


class Contrastive:
    """The contrastive method as the pretext loop drives it.

    Parameters
    ----------
    encoder : nn.Module
        The backbone to train (any registered one).
    temperature : float
        NT-Xent temperature (SimCLR: 0.1-0.5; default 0.1).
    crop_min : float
        Smallest random crop, as a share of the window (default 0.5).
    p_transform : float
        Probability of each of the six transformations per view (default 0.5).
    hidden, out : int
        Widths of the projection head (default 256 and 128).
    l2 : float
        Factor of ``sum(0.5 * ||W||^2)`` over the kernels (the pretext ``l2``).
    transforms : TransformParams
        Parameters of the six transformations (the pretext ``transforms``).
    generator : torch.Generator
        Source of the projection head's initial weights.
    device : torch.device
    precision : {"fp32", "bf16"}

    Notes
    -----
    The loss couples all windows of a batch, so a step's ``2 * batch_size`` views
    always go through in one pass: ``micro_batch`` does not apply.
    """

    name = "contrastive"
    #: method_params and their defaults.
    PARAMS: dict[str, Any] = {
        "temperature": 0.1,
        "crop_min": 0.5,
        "p_transform": 0.5,
        "hidden": 256,
        "out": 128,
    }

    def __init__(
        self,
        encoder: nn.Module,
        *,
        l2: float,
        transforms: TransformParams,
        generator: torch.Generator,
        device: torch.device,
        precision: str = "fp32",
        **params: Any,
    ) -> None:
        p = {**self.PARAMS, **self.check_params(params)}
        heads = ProjectionHead(
            n_features=encoder.n_features, hidden=p["hidden"], out=p["out"],
            generator=generator,
        )  # fmt: skip
        self.model = ContrastiveNet(encoder, heads).to(device)
        self.temperature = float(p["temperature"])
        self.crop_min = float(p["crop_min"])
        self.p_transform = float(p["p_transform"])
        self.l2 = l2
        self.transforms = transforms
        self.device = device
        self.precision = precision

    @staticmethod
    def unsupported(backbone: type) -> str | None:
        """Why the method cannot train ``backbone``: never (any backbone works)."""
        return None

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Validate ``method_params`` (keys of :attr:`PARAMS`); return them."""
        params = check_keys(params, cls.PARAMS, "method_params")
        if "temperature" in params:
            check_number(params["temperature"], "temperature", minimum=0.0,
                         exclusive_minimum=True)  # fmt: skip
        if "crop_min" in params:
            check_number(params["crop_min"], "crop_min", minimum=0.0, maximum=1.0,
                         exclusive_minimum=True)  # fmt: skip
        if "p_transform" in params:
            check_probability(params["p_transform"], "p_transform", allow_one=True)
        for name in ("hidden", "out"):
            if name in params:
                check_int(params[name], name, minimum=1)
        return params

    @classmethod
    def build(
        cls, encoder: nn.Module, config: Any, *, generator: torch.Generator,
        device: torch.device, precision: str,
    ) -> Contrastive:  # fmt: skip
        """Build from a :class:`ecgssl.learning.pretrain.PretextConfig`."""
        return cls(
            encoder, l2=config.l2, transforms=config.transforms, generator=generator,
            device=device, precision=precision, **config.method_params,
        )  # fmt: skip

    def views(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Two random views of each window."""
        kw = {"crop_min": self.crop_min, "p_transform": self.p_transform,
              "generator": generator}  # fmt: skip
        return (random_view(x, self.transforms, **kw),
                random_view(x, self.transforms, **kw))  # fmt: skip

    def _project(self, v1: Tensor, v2: Tensor) -> tuple[Tensor, Tensor]:
        with autocast(self.device, self.precision):
            z = self.model(torch.cat([v1, v2])).float()
        return z[: v1.shape[0]], z[v1.shape[0] :]

    def step(
        self,
        x: Tensor,
        generators: dict[str, torch.Generator],
        micro_batch: int | None,
    ) -> Tensor:
        """Forward and backward of one batch (gradients accumulate); return the loss.

        ``generators["augment"]`` draws the views; ``micro_batch`` is ignored (see
        the class notes).
        """
        z1, z2 = self._project(*self.views(x, generators["augment"]))
        loss = nt_xent(z1, z2, self.temperature)
        if self.l2 > 0:
            loss = loss + self.l2 * kernel_l2(self.model, half=True).to(loss.device)
        loss.backward()
        return loss.detach()

    @torch.no_grad()
    def validate(
        self, batches: Iterable[Tensor] | None, generator: torch.Generator
    ) -> dict[str, Any]:
        """Validation loss and top-1 retrieval of the other view, in eval mode.

        ``val_loss``: the objective (NT-Xent within each batch plus the L2 term);
        ``val_top1``: share of first views whose most similar second view, among
        those of all validation windows, is the one of the same window (chance
        ``1 / n_val``).
        """
        if batches is None:
            return {"val_loss": None, "val_top1": None}
        was_training = self.model.training
        self.model.eval()
        loss_sum, n_rows = 0.0, 0
        first, second = [], []
        for x in batches:
            z1, z2 = self._project(*self.views(x, generator))
            loss_sum += float(nt_xent(z1, z2, self.temperature)) * x.shape[0]
            n_rows += x.shape[0]
            first.append(F.normalize(z1, dim=1).cpu())
            second.append(F.normalize(z2, dim=1).cpu())
        self.model.train(was_training)
        if n_rows == 0:
            raise ValueError("no windows to evaluate")
        a, b = torch.cat(first), torch.cat(second)
        hits = 0
        for start in range(0, len(a), 1024):  # blocks of the similarity matrix
            best = (a[start : start + 1024] @ b.T).argmax(dim=1)
            hits += int((best == torch.arange(start, start + len(best))).sum())
        loss = loss_sum / n_rows + self.l2 * float(kernel_l2(self.model, half=True))
        return {"val_loss": loss, "val_top1": hits / n_rows}

    @staticmethod
    def describe(row: dict[str, Any]) -> str:
        """The validation part of an epoch's progress line."""
        if row.get("val_loss") is None:
            return "no validation"
        return f"val loss {row['val_loss']:.4f} retrieval top1 {row['val_top1']:.3f}"

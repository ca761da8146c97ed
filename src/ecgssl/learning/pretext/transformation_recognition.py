"""The paper's pretext task: recognise which transformation a signal went through.

Each window gives seven versions (the original and six transformations, see
:mod:`ecgssl.learning.transforms`); seven binary heads on the shared encoder each
answer "is this version transformation k?". The loss is the weighted sum of the
heads' sigmoid cross-entropies (the released code's weights) plus an L2 penalty on
the kernels (TensorFlow's ``l2_loss``).

Scoring a head by plain accuracy flatters it: six of every seven signals are
negatives for each head, so a head that always answers "no" scores 0.857.
:func:`evaluate` therefore also reports each head's balanced accuracy (chance 0.5)
and the seven-way top-1 accuracy (chance 1/7).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.learning.device import autocast
from ecgssl.learning.layers import (
    GeneratorDropout,
    chunked_backward,
    default_generator,
    init_tf_style,
    kernel_l2,
)
from ecgssl.learning.transforms import TASKS, TransformParams, make_pretext_batch
from ecgssl.util.checks import (
    check_int,
    check_keys,
    check_number,
    check_probability,
)

__all__ = [
    "LEARNED_BALANCED_ACCURACY",
    "TASK_WEIGHTS",
    "PretextHeads",
    "PretextNet",
    "Scores",
    "TransformationRecognition",
    "evaluate",
    "forward_backward",
    "pretext_loss",
]

#: Loss weights of the seven heads, in :data:`ecgssl.learning.transforms.TASKS` order.
TASK_WEIGHTS: tuple[float, ...] = (0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195)

#: A head counts as having learned its task when its balanced accuracy reaches this.
LEARNED_BALANCED_ACCURACY = 0.75


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
        Source of the initial weights (Glorot uniform, zero biases); None means a
        CPU generator seeded with 0.
    """

    method = "transformation_recognition"

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
        check_int(n_features, "n_features", minimum=1)
        check_int(hidden, "hidden", minimum=1)
        check_int(n_tasks, "n_tasks", minimum=1)
        dropout = check_probability(dropout, "dropout")
        negative_slope = check_number(negative_slope, "negative_slope", minimum=0.0)
        self.config: dict[str, Any] = {
            "n_features": n_features,
            "hidden": hidden,
            "n_tasks": n_tasks,
            "dropout": dropout,
            "negative_slope": negative_slope,
        }
        with torch.device("meta"):  # PyTorch's own init (global RNG) is skipped
            self.heads = nn.ModuleList(
                _Head(n_features, hidden, dropout, negative_slope)
                for _ in range(n_tasks)
            )
        self.to_empty(device="cpu")
        init_tf_style(self, default_generator(generator))

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

    def __init__(self, encoder: nn.Module, heads: PretextHeads) -> None:
        super().__init__()
        if encoder.n_features != heads.config["n_features"]:
            raise ValueError(
                f"heads expect {heads.config['n_features']} features but the encoder "
                f"gives {encoder.n_features}"
            )
        self.encoder = encoder
        self.heads = heads

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Score signals ``(n, length)`` -> logits ``(n, n_tasks)``.

        ``generator`` is the source of the heads' dropout masks in training mode.
        """
        return self.heads(self.encoder(x), generator)


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
        Module whose kernels are penalised; None (or ``l2 == 0``) for no penalty.
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
    l2 = check_number(l2, "l2", minimum=0.0)
    per_task = F.binary_cross_entropy_with_logits(
        logits, targets.to(logits.dtype), reduction="none"
    ).mean(dim=0)
    total = (w * per_task).sum()
    if model is not None and l2 > 0:
        total = total + l2 * kernel_l2(model, half=True).to(total.device)
    return total, per_task


def forward_backward(
    model: PretextNet,
    signals: Tensor,
    targets: Tensor,
    weights: Tensor,
    l2: float,
    generator: torch.Generator,
    micro_batch: int | None,
    device: torch.device,
    precision: str = "fp32",
) -> Tensor:
    """Forward and backward of one step (gradients accumulate); return the loss.

    With ``micro_batch``, rows go through in chunks, each chunk's loss weighted by
    its share of the rows, and the L2 term is added once: the sum is the one-pass
    objective and its gradient the one-pass gradient (up to float rounding; the
    dropout masks are drawn chunk by chunk). ``precision="bf16"`` runs the forward
    pass under bf16 autocast (the loss and the weights stay float32).
    """

    def chunk_loss(rows: slice) -> Tensor:
        with autocast(device, precision):
            logits = model(signals[rows], generator)
        return pretext_loss(logits.float(), targets[rows], weights, None, 0.0)[0]

    return chunked_backward(
        signals.shape[0], micro_batch, chunk_loss, model, l2, device
    )


@dataclass
class Scores:
    """How well the heads recognise the transformations on some windows.

    Attributes
    ----------
    loss : float
        The objective (weighted cross-entropies plus the L2 term) on the signals.
    accuracy : dict
        Task -> share of all signals on which head ``k`` is right (threshold 0.5).
        Flattering: a head that always answers "no" scores 6/7 = 0.857.
    balanced_accuracy : dict
        Task -> mean of the head's recall on its own version and on the six others
        (chance 0.5).
    top1 : float
        Share of signals whose version is the head with the largest logit (chance
        1/7).
    """

    loss: float
    accuracy: dict[str, float]
    balanced_accuracy: dict[str, float]
    top1: float

    def not_learned(self) -> list[str]:
        """Tasks whose balanced accuracy is below :data:`LEARNED_BALANCED_ACCURACY`."""
        return [
            task
            for task in TASKS[1:]
            if self.balanced_accuracy[task] < LEARNED_BALANCED_ACCURACY
        ]

    def as_row(self, prefix: str) -> dict[str, float]:
        """Flat columns for a history row, see :meth:`row_keys`.

        ``acc_mean`` averages all seven heads, ``bacc_mean`` the six
        transformation heads.
        """
        row = {f"{prefix}loss": self.loss}
        row |= {f"{prefix}acc_{t}": self.accuracy[t] for t in TASKS}
        row[f"{prefix}acc_mean"] = float(np.mean(list(self.accuracy.values())))
        row |= {f"{prefix}bacc_{t}": self.balanced_accuracy[t] for t in TASKS}
        row[f"{prefix}bacc_mean"] = float(
            np.mean([self.balanced_accuracy[t] for t in TASKS[1:]])
        )
        row[f"{prefix}top1"] = self.top1
        return row

    @staticmethod
    def row_keys(prefix: str) -> list[str]:
        """Columns of :meth:`as_row`: loss, acc_<task>, acc_mean, bacc_..., top1."""
        return [
            f"{prefix}loss",
            *(f"{prefix}acc_{t}" for t in TASKS),
            f"{prefix}acc_mean",
            *(f"{prefix}bacc_{t}" for t in TASKS),
            f"{prefix}bacc_mean",
            f"{prefix}top1",
        ]

    @classmethod
    def from_row(cls, row: dict[str, Any], prefix: str) -> Scores | None:
        """Scores back from a history row (None where the row has none)."""
        if row.get(f"{prefix}loss") is None:
            return None
        return cls(
            loss=float(row[f"{prefix}loss"]),
            accuracy={t: float(row[f"{prefix}acc_{t}"]) for t in TASKS},
            balanced_accuracy={t: float(row[f"{prefix}bacc_{t}"]) for t in TASKS},
            top1=float(row[f"{prefix}top1"]),
        )


@torch.no_grad()
def evaluate(
    model: PretextNet,
    batches: Iterable[Tensor],
    *,
    params: TransformParams,
    weights: Sequence[float],
    l2: float,
    generator: torch.Generator,
    device: torch.device,
    precision: str = "fp32",
) -> Scores:
    """Score the heads on transformed windows, in eval mode, changing nothing.

    Parameters
    ----------
    model : PretextNet
        Encoder and heads.
    batches : iterable of Tensor, each (batch, length)
        Original windows, already on ``device``.
    params : TransformParams
        Transformation parameters (those the model was trained with).
    weights : sequence of float
        Loss weights of the heads.
    l2 : float
        L2 factor of the objective.
    generator : torch.Generator
        Source of the transformations' randomness (seed it for repeatable scores).
    device : torch.device
        Where the model runs.
    precision : {"fp32", "bf16"}
        Arithmetic of the forward passes.

    Returns
    -------
    Scores
    """
    from sklearn.metrics import balanced_accuracy_score

    was_training = model.training
    model.eval()
    w = torch.as_tensor(weights, dtype=torch.float32, device=device)
    bce_sum = torch.zeros(len(TASKS), dtype=torch.float64)
    predicted, truth = [], []
    top1 = 0
    n_rows = 0
    for x in batches:
        signals, targets = make_pretext_batch(x, params, generator)
        with autocast(device, precision):
            logits = model(signals).float()
        _, per_task = pretext_loss(logits, targets, w, None, 0.0)
        bce_sum += per_task.double().cpu() * signals.shape[0]
        predicted.append((logits > 0).cpu().numpy())
        truth.append((targets > 0.5).cpu().numpy())
        top1 += int((logits.argmax(dim=1) == targets.argmax(dim=1)).sum())
        n_rows += signals.shape[0]
    model.train(was_training)
    if n_rows == 0:
        raise ValueError("no windows to evaluate")
    pred, true = np.concatenate(predicted), np.concatenate(truth)
    loss = float((w.double().cpu() * bce_sum / n_rows).sum())
    loss += l2 * float(kernel_l2(model, half=True))
    return Scores(
        loss=loss,
        accuracy={
            t: float((pred[:, k] == true[:, k]).mean()) for k, t in enumerate(TASKS)
        },
        balanced_accuracy={
            t: float(balanced_accuracy_score(true[:, k], pred[:, k]))
            for k, t in enumerate(TASKS)
        },
        top1=top1 / n_rows,
    )


class TransformationRecognition:
    """The method as the pretext loop drives it: a model, a training step, scores.

    Parameters
    ----------
    encoder : nn.Module
        The backbone to train (any registered one).
    dropout : float
        Dropout in the heads.
    task_weights : sequence of float
        Loss weights of the seven heads.
    l2 : float
        Factor of ``sum(0.5 * ||W||^2)`` over the kernels.
    transforms : TransformParams
        Transformation parameters.
    generator : torch.Generator
        Source of the heads' initial weights.
    device : torch.device
        Where the model runs.
    precision : {"fp32", "bf16"}
        Arithmetic of the forward passes (weights, optimiser and loss stay fp32).
    """

    name = "transformation_recognition"
    #: method_params: none (the method's settings are the pretext section's own
    #: ``dropout``, ``task_weights``, ``l2`` and ``transforms``).
    PARAMS: dict[str, Any] = {}

    def __init__(
        self,
        encoder: nn.Module,
        *,
        dropout: float,
        task_weights: Sequence[float],
        l2: float,
        transforms: TransformParams,
        generator: torch.Generator,
        device: torch.device,
        precision: str = "fp32",
    ) -> None:
        heads = PretextHeads(
            n_features=encoder.n_features, dropout=dropout, generator=generator
        )
        self.model = PretextNet(encoder, heads).to(device)
        self.task_weights = tuple(task_weights)
        self.weights = torch.tensor(
            self.task_weights, dtype=torch.float32, device=device
        )
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
        """Validate ``method_params``: this method takes none."""
        return check_keys(params, cls.PARAMS, "method_params")

    @classmethod
    def build(
        cls, encoder: nn.Module, config: Any, *, generator: torch.Generator,
        device: torch.device, precision: str,
    ) -> TransformationRecognition:  # fmt: skip
        """Build from a :class:`ecgssl.learning.pretrain.PretextConfig`."""
        cls.check_params(config.method_params)
        return cls(
            encoder, dropout=config.dropout, task_weights=config.task_weights,
            l2=config.l2, transforms=config.transforms, generator=generator,
            device=device, precision=precision,
        )  # fmt: skip

    def step(
        self,
        x: Tensor,
        generators: dict[str, torch.Generator],
        micro_batch: int | None,
    ) -> Tensor:
        """Forward and backward of one batch of windows (gradients accumulate).

        ``generators["augment"]`` draws the transformations and
        ``generators["dropout"]`` the heads' dropout masks. Returns the loss.
        """
        signals, targets = make_pretext_batch(x, self.transforms, generators["augment"])
        return forward_backward(
            self.model, signals, targets, self.weights, self.l2,
            generators["dropout"], micro_batch, self.device, self.precision,
        )  # fmt: skip

    def validate(
        self, batches: Iterable[Tensor] | None, generator: torch.Generator
    ) -> dict[str, Any]:
        """History columns of the scores on ``batches`` (None: no validation data)."""
        if batches is None:
            return dict.fromkeys(Scores.row_keys("val_"))
        scores = evaluate(
            self.model, batches, params=self.transforms, weights=self.task_weights,
            l2=self.l2, generator=generator, device=self.device,
            precision=self.precision,
        )  # fmt: skip
        return scores.as_row("val_")

    @staticmethod
    def describe(row: dict[str, Any]) -> str:
        """The validation part of an epoch's progress line."""
        scores = Scores.from_row(row, "val_")
        if scores is None:
            return "no validation"
        return (
            f"val loss {scores.loss:.4f} top1 {scores.top1:.3f} balanced acc ("
            + " ".join(f"{t}={scores.balanced_accuracy[t]:.2f}" for t in TASKS)
            + ")"
        )

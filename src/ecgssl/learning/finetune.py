"""Emotion classifiers on frozen features or on windows (supervised, fine-tuned).

:func:`train_classifier` trains one classifier on one training fold and predicts
its test fold; the loop itself is :func:`ecgssl.learning.training.fit`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score
from torch import Tensor, nn

from ecgssl.config.defaults import defaults
from ecgssl.learning.device import autocast
from ecgssl.learning.layers import GeneratorDropout, init_torch_default, kernel_l2
from ecgssl.learning.training import Selection, TrainingRun, fingerprint, fit
from ecgssl.util.checks import (
    check_int,
    check_keys,
    check_number,
    check_option,
    check_probability,
    validate_type,
)
from ecgssl.util.seeds import stable_seed

__all__ = [
    "CHECKPOINT_FORMAT",
    "METHODS",
    "EmotionHead",
    "FinetuneConfig",
    "FoldOutput",
    "train_classifier",
]

logger = logging.getLogger(__name__)

#: The training methods :func:`train_classifier` knows.
METHODS = ("ssl_frozen", "supervised", "ssl_finetune")

#: Value of the ``"format"`` key of a classifier training checkpoint.
CHECKPOINT_FORMAT = "ecgssl-finetune-checkpoint-v2"

_DEFAULTS = defaults("$defs.train")


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyperparameters of the emotion classifier (defaults: the released code).

    Parameters
    ----------
    epochs : int
        Fixed number of passes over the training fold (no early stopping).
    batch_size : int
        Windows (or feature vectors) per optimiser step.
    lr : float
        Adam learning rate.
    hidden : int
        Units of each hidden dense layer.
    depth : int
        Number of hidden dense ReLU layers (0: a linear classifier on the features).
    dropout : float
        Dropout after each hidden layer, in [0, 1).
    l2 : float
        Weight decay as Keras ``kernel_regularizer=l2(l2)`` in the released code:
        ``l2 * sum(W**2)`` over the kernels (not biases) of every trained layer is
        added to the loss.
    patience : int or None
        With validation data: stop when the validation loss has not improved for
        this many epochs. The epoch with the lowest validation loss is kept either
        way (None: train all ``epochs``).
    """

    epochs: int = _DEFAULTS["epochs"]
    batch_size: int = _DEFAULTS["batch_size"]
    lr: float = _DEFAULTS["lr"]
    hidden: int = _DEFAULTS["hidden"]
    depth: int = _DEFAULTS["depth"]
    dropout: float = _DEFAULTS["dropout"]
    l2: float = _DEFAULTS["l2"]
    patience: int | None = _DEFAULTS["patience"]

    def __post_init__(self) -> None:
        """Validate every field."""
        check_int(self.epochs, "epochs", minimum=1)
        if self.patience is not None:
            check_int(self.patience, "patience", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.hidden, "hidden", minimum=1)
        check_int(self.depth, "depth", minimum=0)
        check_number(self.lr, "lr", minimum=0.0, exclusive_minimum=True)
        check_probability(self.dropout, "dropout")
        check_number(self.l2, "l2", minimum=0.0)

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> FinetuneConfig:
        """Build from a config mapping; unknown keys are an error (typos fail early).

        Parameters
        ----------
        params : mapping
            A subset of the field names; missing ones take their defaults.

        Returns
        -------
        FinetuneConfig
        """
        known = [f.name for f in dataclasses.fields(cls)]
        return cls(**check_keys(params, known, "params"))

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (for provenance sidecars)."""
        return dataclasses.asdict(self)


class EmotionHead(nn.Module):
    """MLP classifier: ``depth`` x (Linear -> ReLU -> Dropout), then Linear to logits.

    Weights are drawn from ``generator`` in PyTorch's default ``nn.Linear`` scheme
    (:func:`ecgssl.learning.layers.init_torch_default`), never from the global RNG.

    Parameters
    ----------
    n_features : int
        Input width (the encoder's ``n_features``, 128 for the paper's network).
    n_classes : int
        Output width (>= 2); the output is logits, to be used with cross-entropy.
    hidden : int
        Width of each hidden layer.
    depth : int
        Number of hidden layers (>= 0).
    dropout : float
        Dropout probability after each hidden layer.
    generator : torch.Generator, optional
        CPU generator for the initial weights; None means one seeded with 0.
    """

    def __init__(
        self,
        *,
        n_features: int,
        n_classes: int,
        hidden: int,
        depth: int,
        dropout: float,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int(n_features, "n_features", minimum=1)
        check_int(n_classes, "n_classes", minimum=2)
        check_int(hidden, "hidden", minimum=1)
        check_int(depth, "depth", minimum=0)
        dropout = check_probability(dropout, "dropout")
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        validate_type(generator, torch.Generator, "generator")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        widths = [int(n_features)] + [int(hidden)] * int(depth)
        with torch.device("meta"):  # skip PyTorch's init, which uses the global RNG
            self.hidden = nn.ModuleList(
                nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
            )
            self.out = nn.Linear(widths[-1], int(n_classes))
        self.drops = nn.ModuleList(GeneratorDropout(dropout) for _ in self.hidden)
        self.to_empty(device="cpu")
        init_torch_default(self, generator)

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Classify feature vectors.

        Parameters
        ----------
        z : Tensor, shape (batch, n_features)
            Encoder features (float32).
        generator : torch.Generator, optional
            Source of the dropout masks; needed in training mode when dropout > 0.

        Returns
        -------
        Tensor, shape (batch, n_classes)
            Logits (no softmax).
        """
        if z.ndim != 2 or z.shape[1] != self.n_features:
            raise ValueError(
                f"z must have shape (batch, {self.n_features}), got {tuple(z.shape)}"
            )
        for layer, drop in zip(self.hidden, self.drops, strict=True):
            z = drop(F.relu(layer(z)), generator)
        return self.out(z)


@dataclass
class FoldOutput:
    """What :func:`train_classifier` returns for one fold.

    Attributes
    ----------
    y_pred : ndarray of int64, shape (n_test,)
        Predicted class index of each test row.
    proba : ndarray of float64, shape (n_test, n_classes)
        Softmax class probabilities of each test row.
    history : list of dict
        One dict per epoch: ``epoch`` (from 1), ``train_loss`` (mean cross-entropy
        plus L2 term over the epoch's batches, weighted by batch size),
        ``train_accuracy`` (of the batches as seen during the epoch, in training
        mode), ``lr`` and ``seconds``.
    head : EmotionHead
        The trained head (on the CPU).
    encoder : nn.Module or None
        A trained copy of the encoder for "supervised"/"ssl_finetune" (on the CPU);
        None for "ssl_frozen". The encoder passed in is never modified.
    best_epoch : int or None
        The epoch whose weights were kept (with validation data).
    stopped_early : bool
        Whether the patience ended training before ``config.epochs``.
    """

    y_pred: np.ndarray
    proba: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    head: EmotionHead | None = None
    encoder: nn.Module | None = None
    best_epoch: int | None = None
    stopped_early: bool = False


class _Classifier(nn.Module):
    """Optional encoder followed by the head."""

    def __init__(self, encoder: nn.Module | None, head: EmotionHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(batch, L) windows or (batch, n_features) features -> (batch, n_classes)."""
        z = x if self.encoder is None else self.encoder(x)
        return self.head(z, generator)


def _check_inputs(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    *,
    n_classes: int,
    method: str,
    encoder: nn.Module | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    check_option(method, METHODS, "method")
    check_int(n_classes, "n_classes", minimum=2)
    arrays = []
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        validate_type(x, np.ndarray, name)
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(
                f"{name} must have shape (n, n_features) or (n, L), got {x.shape}"
            )
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} must be a float array, got dtype {x.dtype}")
        arrays.append(x)
    xtr, xte = arrays
    if xtr.shape[0] == 0:
        raise ValueError("x_train must have at least one row")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"x_train and x_test must have the same width, got {xtr.shape[1]} and "
            f"{xte.shape[1]}"
        )
    y = np.asarray(y_train)
    if y.ndim != 1 or y.shape[0] != xtr.shape[0]:
        raise ValueError(
            f"y_train must have shape ({xtr.shape[0]},) like x_train's rows, got "
            f"{y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y_train must hold integer class indices, got {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"y_train must hold class indices in [0, {n_classes - 1}] (unlabelled "
            f"windows removed), got values from {y.min()} to {y.max()}"
        )
    if method == "ssl_frozen":
        if encoder is not None:
            raise ValueError(
                "encoder must be None for method='ssl_frozen': x_train/x_test are "
                "the frozen encoder's features, extracted once per dataset"
            )
    else:
        validate_type(encoder, nn.Module, f"encoder (method={method!r})")
        check_int(getattr(encoder, "n_features", None), "encoder.n_features")
    return xtr, y.astype(np.int64), xte


def train_classifier(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    n_classes: int,
    method: str,
    config: FinetuneConfig,
    seed: int,
    device: str | torch.device,
    encoder: nn.Module | None = None,
    log: Callable[[str], None] | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_every_s: float = 0.0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    precision: str = "fp32",
) -> FoldOutput:
    """Train an emotion classifier on one training fold and predict its test fold.

    Softmax cross-entropy on logits, Adam, at most ``config.epochs`` epochs. With
    ``validation`` (held out from the training fold, never from the test fold), the
    epoch with the lowest validation loss is kept and training stops after
    ``config.patience`` epochs without improvement. The test fold is only predicted
    once, after training: it is never used for model selection or early stopping.
    Rows are moved to ``device`` one batch at a time.

    Parameters
    ----------
    x_train : ndarray of float, shape (n_train, n_features) or (n_train, L)
        ``"ssl_frozen"``: features of the frozen pretrained encoder (extracted once
        per dataset). ``"supervised"``, ``"ssl_finetune"``: ECG windows (float32,
        z-scored, L samples at 256 Hz).
    y_train : ndarray of int, shape (n_train,)
        Class indices in ``[0, n_classes)`` (unlabelled windows removed).
    x_test : ndarray of float, shape (n_test, same width as x_train)
        Rows to predict (may be empty).
    n_classes : int
        Number of classes of the label scheme (>= 2).
    method : {"ssl_frozen", "supervised", "ssl_finetune"}
        ``"ssl_frozen"``: only the head trains; ``encoder`` must be None.
        ``"supervised"``: ``encoder`` is a freshly, randomly initialised encoder
        (the caller seeds it, e.g. ``Encoder(generator=...)``), trained end to end
        with the head: the paper's fully supervised baseline.
        ``"ssl_finetune"``: ``encoder`` is the pretrained one, unfrozen and trained
        end to end with the head.
    config : FinetuneConfig
        Epochs, batch size, learning rate, head shape, dropout, L2.
    seed : int
        Seeds the head's initial weights, the batch order and the dropout masks,
        each from its own stream (``stable_seed(seed, name)``). Runs with the same
        inputs and seed give identical results on the CPU.
    device : str or torch.device
        Where to train ("cpu", "cuda", ...).
    encoder : nn.Module, optional
        Any module mapping (batch, L) float32 to (batch, ``encoder.n_features``).
        It is copied; the module passed in is left unchanged.
    log : callable, optional
        Receives one progress line per epoch; None logs to this module's logger.
    checkpoint_path : str, Path or None
        If given, the training state is saved there after an epoch and a checkpoint
        of the same run found there is resumed from: the result equals an
        uninterrupted run's (see :func:`ecgssl.learning.training.fit`). A checkpoint
        of other inputs, seed or configuration is ignored.
    checkpoint_every_s : float
        Save after an epoch only if at least this many seconds passed since the
        last save (0: after every epoch). Epochs of a small head on frozen
        features take milliseconds; saving each would cost more than redoing them.
    validation : (x_val, y_val) or None
        Held-out part of the training fold for the epoch selection (same width as
        ``x_train``); None or empty: train all epochs and keep the last.
    precision : {"fp32", "bf16"}
        Arithmetic of the forward and backward passes (weights, optimiser and loss
        stay float32).

    Returns
    -------
    FoldOutput
        Test predictions and probabilities, per-epoch history, trained modules.

    Notes
    -----
    Two classes also use a 2-logit softmax with cross-entropy (the released code
    switched to 2 sigmoid units with binary cross-entropy there; for mutually
    exclusive classes softmax is the correct model). Stochastic layers inside the
    encoder itself (the paper's encoder has none) would draw from torch's global RNG.
    """
    validate_type(config, FinetuneConfig, "config")
    seed = check_int(seed, "seed", minimum=0)
    xtr, ytr, xte = _check_inputs(
        x_train, y_train, x_test, n_classes=n_classes, method=method, encoder=encoder
    )
    dev = torch.device(device)
    say = log if log is not None else logger.info

    def gen(name: str, where: torch.device | str = "cpu") -> torch.Generator:
        return torch.Generator(device=where).manual_seed(stable_seed(seed, name))

    generators = {"order": gen("order"), "dropout": gen("dropout", dev)}
    if encoder is None:
        n_features, model_encoder = xtr.shape[1], None
    else:
        n_features = int(encoder.n_features)
        model_encoder = copy.deepcopy(encoder)
        for p in model_encoder.parameters():
            p.requires_grad_(True)
    head = EmotionHead(
        n_features=n_features,
        n_classes=n_classes,
        hidden=config.hidden,
        depth=config.depth,
        dropout=config.dropout,
        generator=gen("head-init"),
    )
    model = _Classifier(model_encoder, head).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    y_all = torch.from_numpy(ytr)
    check_option(precision, ("fp32", "bf16"), "precision")
    xval, yval = _check_validation(validation, xtr.shape[1], n_classes)

    def train_epoch(epoch: int) -> dict[str, Any]:
        n = xtr.shape[0]
        perm = torch.randperm(n, generator=generators["order"]).numpy()
        loss_sum, correct = 0.0, 0
        for lo in range(0, n, config.batch_size):
            idx = np.sort(perm[lo : lo + config.batch_size])
            xb = torch.from_numpy(np.ascontiguousarray(xtr[idx], dtype=np.float32))
            xb = xb.to(dev, non_blocking=True)
            yb = y_all[idx].to(dev, non_blocking=True)
            with autocast(dev, precision):
                logits = model(xb, generators["dropout"]).float()
            loss = F.cross_entropy(logits, yb)
            if config.l2 > 0:
                loss = loss + config.l2 * kernel_l2(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(dim=1) == yb).sum())
        return {"train_loss": loss_sum / n, "train_accuracy": correct / n}

    def validate() -> dict[str, Any]:
        logits = _predict_logits(
            model, xval, batch_size=config.batch_size, device=dev, precision=precision
        )
        return {
            "val_loss": float(
                F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(yval))
            ),
            "val_balanced_accuracy": float(
                balanced_accuracy_score(yval, logits.argmax(axis=1))
            ),
        }

    def describe(row: dict[str, Any]) -> str:
        rate = xtr.shape[0] / row["seconds"] if row["seconds"] > 0 else float("inf")
        text = f"loss {row['train_loss']:.4f} acc {row['train_accuracy']:.3f}"
        if "val_loss" in row:
            text += (
                f" val loss {row['val_loss']:.4f} "
                f"balanced acc {row['val_balanced_accuracy']:.3f}"
            )
        return text + f" ({rate:.0f} samples/s)"

    run = TrainingRun(
        name=method,
        model=model,
        optimizer=optimizer,
        generators=generators,
        epochs=config.epochs,
        train_epoch=train_epoch,
        validate=validate if len(yval) else None,
        describe=describe,
        log=say,
        selection=Selection("val_loss", "min", config.patience) if len(yval) else None,
        fingerprint=_fingerprint(
            xtr,
            ytr,
            method,
            n_classes,
            config,
            seed,
            model,
            dev,
            precision,
            xval,
            yval,
        ),  # fmt: skip
        checkpoint_path=None if checkpoint_path is None else Path(checkpoint_path),
        checkpoint_format=CHECKPOINT_FORMAT,
        checkpoint_every_s=checkpoint_every_s,
    )
    outcome = fit(run)
    logits = _predict_logits(
        model, xte, batch_size=config.batch_size, device=dev, precision=precision
    )
    proba = torch.softmax(torch.from_numpy(logits), dim=1).numpy().astype(np.float64)
    model.to("cpu")
    return FoldOutput(
        y_pred=proba.argmax(axis=1).astype(np.int64),
        proba=proba,
        history=outcome.history,
        head=head,
        encoder=model_encoder,
        best_epoch=outcome.best_epoch,
        stopped_early=outcome.stopped_early,
    )


def _check_validation(
    validation: tuple[np.ndarray, np.ndarray] | None, width: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    if validation is None:
        return np.zeros((0, width), dtype=np.float32), np.zeros(0, dtype=np.int64)
    x, y = validation
    validate_type(x, np.ndarray, "validation x")
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != width or y.shape != (x.shape[0],):
        raise ValueError(
            f"validation must be (x of shape (n, {width}), y of shape (n,)), got "
            f"{x.shape} and {y.shape}"
        )
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0
                   or y.max() >= n_classes):  # fmt: skip
        raise ValueError(f"validation labels must be class indices < {n_classes}")
    return x, y.astype(np.int64)


def _fingerprint(
    x: np.ndarray,
    y: np.ndarray,
    method: str,
    n_classes: int,
    config: FinetuneConfig,
    seed: int,
    model: nn.Module,
    device: torch.device,
    precision: str = "fp32",
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> str:
    """Digest of everything the training trajectory depends on.

    The device type is part of it: random generator states differ between devices.
    """
    identity = {
        "method": method, "n_classes": n_classes, "seed": seed,
        "config": config.to_dict(), "shape": list(x.shape), "device_type": device.type,
        "precision": precision,
    }  # fmt: skip
    initial = [v.detach().cpu().numpy() for v in model.state_dict().values()]
    extra = [a for a in (x_val, y_val) if a is not None]
    return fingerprint(identity, x, y, *extra, *initial)


@torch.no_grad()
def _predict_logits(
    model: nn.Module,
    x: np.ndarray,
    *,
    batch_size: int,
    device: torch.device,
    precision: str,
) -> np.ndarray:
    """Logits (float32) of every row, in eval mode, one batch at a time.

    The model's training mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    out = np.empty((x.shape[0], model.head.n_classes), dtype=np.float32)
    for lo in range(0, x.shape[0], batch_size):
        xb = torch.from_numpy(
            np.ascontiguousarray(x[lo : lo + batch_size], dtype=np.float32)
        ).to(device)
        with autocast(device, precision):
            out[lo : lo + batch_size] = model(xb).float().cpu().numpy()
    model.train(was_training)
    return out

"""Emotion classifiers on frozen features or on windows (supervised, fine-tuned)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecgssl.learning.checkpoint import load_checkpoint, save_checkpoint
from ecgssl.learning.models import GeneratorDropout

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
CHECKPOINT_FORMAT = "ecgssl-finetune-checkpoint-v1"


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_float(value: Any, name: str, *, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be finite and in {bound}, got {value}")
    return value


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
    """

    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    hidden: int = 512
    depth: int = 2
    dropout: float = 0.0
    l2: float = 0.0

    def __post_init__(self) -> None:
        """Validate every field."""
        _check_int(self.epochs, "epochs", 1)
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.hidden, "hidden", 1)
        _check_int(self.depth, "depth", 0)
        _check_float(self.lr, "lr", low=0.0, high=None)
        if self.lr == 0:
            raise ValueError("lr must be > 0, got 0")
        _check_float(self.dropout, "dropout", low=0.0, high=1.0)
        _check_float(self.l2, "l2", low=0.0, high=None)

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
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping, got {type(params).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"params has unknown key(s) {unknown}; known keys: {sorted(known)}"
            )
        return cls(**dict(params))

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (for provenance sidecars)."""
        return dataclasses.asdict(self)


class EmotionHead(nn.Module):
    """MLP classifier: ``depth`` x (Linear -> ReLU -> Dropout), then Linear to logits.

    Weights are drawn from ``generator`` (PyTorch's default ``nn.Linear`` scheme:
    Kaiming-uniform kernels with ``a=sqrt(5)``, uniform biases), never from the global
    RNG.

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
        _check_int(n_features, "n_features", 1)
        _check_int(n_classes, "n_classes", 2)
        _check_int(hidden, "hidden", 1)
        _check_int(depth, "depth", 0)
        _check_float(dropout, "dropout", low=0.0, high=1.0)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        widths = [int(n_features)] + [int(hidden)] * int(depth)
        with torch.device("meta"):  # skip PyTorch's init, which uses the global RNG
            self.hidden = nn.ModuleList(
                nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
            )
            self.out = nn.Linear(widths[-1], int(n_classes))
        self.drops = nn.ModuleList(
            GeneratorDropout(float(dropout)) for _ in self.hidden
        )
        self.to_empty(device="cpu")
        for layer in [*self.hidden, self.out]:
            weight = torch.empty(layer.weight.shape)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(layer.in_features)
            bias = torch.empty(layer.bias.shape).uniform_(
                -bound, bound, generator=generator
            )
            with torch.no_grad():
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)

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
        One dict per epoch: ``epoch`` (1-based), ``train_loss`` (mean cross-entropy
        plus L2 term over the epoch's batches, weighted by batch size),
        ``train_accuracy`` (of the batches as seen during the epoch, in training
        mode), ``seconds`` and ``samples_per_s``.
    head : EmotionHead
        The trained head (on the CPU).
    encoder : nn.Module or None
        A trained copy of the encoder for "supervised"/"ssl_finetune" (on the CPU);
        None for "ssl_frozen". The encoder passed in is never modified.
    """

    y_pred: np.ndarray
    proba: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    head: EmotionHead | None = None
    encoder: nn.Module | None = None


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


def _kernel_l2(module: nn.Module) -> Tensor:
    """Sum of squared kernels (parameters named ``weight`` with >= 2 dimensions)."""
    terms = [
        p.pow(2).sum()
        for name, p in module.named_parameters()
        if p.requires_grad and name.rsplit(".", 1)[-1] == "weight" and p.ndim >= 2
    ]
    return torch.stack(terms).sum()


def _check_inputs(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    *,
    n_classes: int,
    method: str,
    encoder: nn.Module | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _check_int(n_classes, "n_classes", 2)
    arrays = []
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
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
        if not isinstance(encoder, nn.Module):
            raise TypeError(
                f"encoder must be an nn.Module for method={method!r}, got "
                f"{type(encoder).__name__}"
            )
        n_features = getattr(encoder, "n_features", None)
        if isinstance(n_features, bool) or not isinstance(n_features, int):
            raise TypeError("encoder must have an int attribute n_features")
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
) -> FoldOutput:
    """Train an emotion classifier on one training fold and predict its test fold.

    Softmax cross-entropy on logits, Adam, a fixed number of epochs. The test fold is
    only predicted once, after training: it is never used for model selection or
    early stopping. Rows are moved to ``device`` one batch at a time.

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
        Seeds the head's initial weights, the batch order and the dropout masks
        (through explicit ``torch.Generator`` objects). Runs with the same inputs
        and seed give identical results on the CPU.
    device : str or torch.device
        Where to train ("cpu", "cuda", ...).
    encoder : nn.Module, optional
        Any module mapping (batch, L) float32 to (batch, ``encoder.n_features``).
        It is copied; the module passed in is left unchanged.
    log : callable, optional
        Receives one progress line per epoch; None logs to this module's logger.
    checkpoint_path : str, Path or None
        If given, the training state (weights, optimiser, generators, history) is
        saved there after an epoch (see :mod:`ecgssl.learning.checkpoint`), and an
        intact
        checkpoint of the same run found there at the start is resumed from: the
        result equals an uninterrupted run's. A checkpoint of other inputs, seed or
        configuration is ignored.
    checkpoint_every_s : float
        Save after an epoch only if at least this many seconds passed since the
        last save (0: after every epoch). Epochs of a small head on frozen
        features take milliseconds; saving each would cost more than redoing them.

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
    if not isinstance(config, FinetuneConfig):
        raise TypeError(f"config must be a FinetuneConfig, got {type(config).__name__}")
    seed = _check_int(seed, "seed", 0)
    xtr, ytr, xte = _check_inputs(
        x_train, y_train, x_test, n_classes=n_classes, method=method, encoder=encoder
    )
    dev = torch.device(device)
    say = log if log is not None else logger.info

    init_gen = torch.Generator().manual_seed(seed)
    order_gen = torch.Generator().manual_seed(seed + 1)
    drop_gen = torch.Generator(device=dev).manual_seed(seed + 2)

    if encoder is None:
        n_features = xtr.shape[1]
        model_encoder = None
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
        generator=init_gen,
    )
    model = _Classifier(model_encoder, head).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    n_train = xtr.shape[0]
    history: list[dict[str, float]] = []
    generators = {"order": order_gen, "dropout": drop_gen}
    start_epoch = 1
    fingerprint = None
    if checkpoint_path is not None:
        if checkpoint_every_s < 0:
            raise ValueError(
                f"checkpoint_every_s must be >= 0, got {checkpoint_every_s}"
            )
        fingerprint = _fingerprint(
            xtr, ytr, method, n_classes, config, seed, model, dev
        )
        state = load_checkpoint(
            checkpoint_path,
            expected_format=CHECKPOINT_FORMAT,
            fingerprint=fingerprint,
            log=say,
        )
        if state is not None and 0 < state.get("epoch", -1) <= config.epochs:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            for name, gen in generators.items():
                gen.set_state(state["generators"][name].cpu())
            history = list(state["history"])
            start_epoch = int(state["epoch"]) + 1
            say(f"resuming from {checkpoint_path} after epoch {start_epoch - 1}")
    last_save = time.perf_counter()
    run_seconds = 0.0
    y_all = torch.from_numpy(ytr)
    for epoch in range(start_epoch, config.epochs + 1):
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(n_train, generator=order_gen).numpy()
        loss_sum = 0.0
        correct = 0
        for lo in range(0, n_train, config.batch_size):
            idx = np.sort(perm[lo : lo + config.batch_size])
            xb = torch.from_numpy(np.ascontiguousarray(xtr[idx], dtype=np.float32))
            xb = xb.to(dev, non_blocking=True)
            yb = y_all[idx].to(dev, non_blocking=True)
            logits = model(xb, drop_gen)
            loss = F.cross_entropy(logits, yb)
            if config.l2 > 0:
                loss = loss + config.l2 * _kernel_l2(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(dim=1) == yb).sum())
        seconds = time.perf_counter() - start
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / n_train,
            "train_accuracy": correct / n_train,
            "seconds": seconds,
            "samples_per_s": n_train / seconds if seconds > 0 else float("inf"),
        }
        history.append(row)
        run_seconds += seconds
        eta = run_seconds / (epoch - start_epoch + 1) * (config.epochs - epoch)
        say(
            f"{method} epoch {epoch}/{config.epochs}: loss {row['train_loss']:.4f} "
            f"acc {row['train_accuracy']:.3f} ({row['samples_per_s']:.0f} samples/s, "
            f"ETA {eta:.0f} s)"
        )
        now = time.perf_counter()
        if (
            checkpoint_path is not None
            and epoch < config.epochs
            and now - last_save >= checkpoint_every_s
        ):
            save_checkpoint(
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": fingerprint,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generators": {k: g.get_state() for k, g in generators.items()},
                    "history": history,
                },
                checkpoint_path,
            )
            last_save = time.perf_counter()

    proba = _predict_proba(model, xte, batch_size=config.batch_size, device=dev)
    model.to("cpu")
    return FoldOutput(
        y_pred=proba.argmax(axis=1).astype(np.int64),
        proba=proba,
        history=history,
        head=head,
        encoder=model_encoder,
    )


def _fingerprint(
    x: np.ndarray,
    y: np.ndarray,
    method: str,
    n_classes: int,
    config: FinetuneConfig,
    seed: int,
    model: nn.Module,
    device: torch.device,
) -> str:
    """SHA-256 of everything the training trajectory depends on.

    The device type is part of it: random generator states differ between devices.
    """
    digest = hashlib.sha256()
    identity = (method, n_classes, seed, config.to_dict(), x.shape, device.type)
    digest.update(repr(identity).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    for name, tensor in model.state_dict().items():  # the initial weights
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def _predict_proba(
    model: nn.Module, x: np.ndarray, *, batch_size: int, device: torch.device
) -> np.ndarray:
    """Softmax probabilities of every row, in eval mode, one batch at a time."""
    model.eval()
    n_classes = model.head.n_classes
    out = np.empty((x.shape[0], n_classes), dtype=np.float64)
    for lo in range(0, x.shape[0], batch_size):
        xb = torch.from_numpy(
            np.ascontiguousarray(x[lo : lo + batch_size], dtype=np.float32)
        ).to(device)
        out[lo : lo + batch_size] = (
            torch.softmax(model(xb).float(), dim=1).cpu().numpy().astype(np.float64)
        )
    return out

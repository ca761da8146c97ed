"""The pretext stage: train the encoder to recognise the six transformations."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from ecgssl.learning.checkpoint import load_checkpoint, save_checkpoint
from ecgssl.learning.device import autocast
from ecgssl.learning.models import (
    TASK_WEIGHTS,
    Encoder,
    PretextHeads,
    PretextNet,
    conv_flops_per_signal,
    l2_penalty,
    pretext_loss,
)
from ecgssl.learning.transforms import TASKS, TransformParams, make_pretext_batch
from ecgssl.util.errors import ConfigError, DataFormatError
from ecgssl.util.seeds import stable_seed

__all__ = [
    "CHECKPOINT_FORMAT",
    "PretextConfig",
    "PretrainResult",
    "pretrain",
    "split_subjects",
]

logger = logging.getLogger(__name__)

#: Value of the ``"format"`` key of a training checkpoint.
CHECKPOINT_FORMAT = "ecgssl-pretext-checkpoint-v1"

# Encoder constructor arguments a config may set (the rest are fixed by the paper).
_ENCODER_KEYS = ("filters", "kernels", "pool", "pool_stride", "negative_slope")


@dataclass
class PretextConfig:
    """Hyperparameters of the pretext stage (defaults: the released code).

    Parameters
    ----------
    epochs : int
        Passes over the training windows.
    batch_size : int
        Windows per step (each gives 7 signals, so 128 -> 896 signals).
    lr : float
        Initial Adam learning rate.
    lr_decay : float
        Staircase decay factor of the learning rate ...
    lr_decay_steps : int
        ... applied every this many optimizer steps.
    l2 : float
        Factor of ``sum(0.5 * ||W||^2)`` over conv and linear kernels.
    dropout : float
        Dropout rate in the heads.
    task_weights : tuple of float
        Loss weight of each head, in :data:`ecgssl.learning.transforms.TASKS` order.
    val_fraction : float
        Share of subjects held out for validation (at least one subject when there
        are two or more and the share is > 0).
    transforms : TransformParams
        Transformation parameters (a dict is converted).
    encoder : dict
        Overrides of :class:`ecgssl.learning.models.Encoder` arguments (``filters``,
        ``kernels``, ``pool``, ``pool_stride``, ``negative_slope``); empty = the
        paper's network.
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    lr_decay: float = 0.9
    lr_decay_steps: int = 10000
    l2: float = 1e-4
    dropout: float = 0.6
    task_weights: tuple[float, ...] = TASK_WEIGHTS
    val_fraction: float = 0.1
    transforms: TransformParams = field(default_factory=TransformParams)
    encoder: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Convert and validate the values."""
        if isinstance(self.transforms, Mapping):
            self.transforms = TransformParams(**self.transforms)
        if not isinstance(self.transforms, TransformParams):
            raise TypeError(
                "transforms must be a TransformParams or a dict, got "
                f"{type(self.transforms).__name__}"
            )
        for name in ("epochs", "batch_size", "lr_decay_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("lr", "lr_decay", "l2", "dropout", "val_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, got {value!r}")
            setattr(self, name, float(value))
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        weights = tuple(float(w) for w in self.task_weights)
        if len(weights) != len(TASKS) or not all(
            math.isfinite(w) and w >= 0 for w in weights
        ):
            raise ValueError(
                f"task_weights must be {len(TASKS)} finite non-negative numbers, got "
                f"{self.task_weights!r}"
            )
        self.task_weights = weights
        if not isinstance(self.encoder, Mapping):
            raise TypeError(
                f"encoder must be a dict, got {type(self.encoder).__name__}"
            )
        unknown = sorted(set(self.encoder) - set(_ENCODER_KEYS))
        if unknown:
            raise ValueError(
                f"encoder has unknown keys {unknown}; allowed: {list(_ENCODER_KEYS)}"
            )
        self.encoder = dict(self.encoder)
        Encoder(**self.encoder)  # validates the values (cheap)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PretextConfig:
        """Build a config from a plain dict (e.g. a YAML section).

        Parameters
        ----------
        d : dict
            Any subset of the fields; ``transforms`` may be a dict.

        Returns
        -------
        PretextConfig

        Raises
        ------
        ecgssl.util.errors.ConfigError
            On unknown keys (including inside ``transforms``) or invalid values; the
            message names the key.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(
                f"pretext config must be a mapping, got {type(d).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"unknown pretext config key(s) {unknown}; known: {sorted(known)}"
            )
        kwargs = dict(d)
        if isinstance(kwargs.get("transforms"), Mapping):
            tknown = {f.name for f in dataclasses.fields(TransformParams)}
            tunknown = sorted(set(kwargs["transforms"]) - tknown)
            if tunknown:
                raise ConfigError(
                    f"unknown key(s) {tunknown} in transforms; known: {sorted(tknown)}"
                )
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid pretext config: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict that :meth:`from_dict` accepts."""
        d = dataclasses.asdict(self)
        d["task_weights"] = list(self.task_weights)
        d["encoder"] = json.loads(json.dumps(self.encoder))
        return d


@dataclass
class PretrainResult:
    """Outcome of :func:`pretrain`.

    Attributes
    ----------
    encoder : Encoder
        Trained encoder (CPU, eval mode).
    heads : PretextHeads
        Trained heads (CPU, eval mode).
    history : list of dict
        One row per epoch: ``epoch`` (1-based), ``steps`` (cumulative optimizer
        steps), ``train_loss`` (mean objective incl. the L2 term), ``val_loss``
        (objective on the validation windows, same terms), ``val_acc_<task>`` for
        each task (head ``k`` right about "is this version k", threshold 0.5) and
        ``val_acc_mean``, ``val_top1`` (the version is the head with the largest
        logit; chance 1/7), ``lr`` (learning rate after the epoch),
        ``seconds`` (epoch wall time), ``windows_per_s`` (training windows per
        second of training). Validation entries are None without validation
        subjects.
    val_accuracy : dict
        Final per-task validation accuracy (task -> float, or None).
    seed : int
    device : str
    n_train_windows, n_val_windows, n_train_subjects, n_val_subjects : int
    train_subjects, val_subjects : list of str
    config : PretextConfig
    """

    encoder: Encoder
    heads: PretextHeads
    history: list[dict[str, Any]]
    val_accuracy: dict[str, float | None]
    seed: int
    device: str
    n_train_windows: int
    n_val_windows: int
    n_train_subjects: int
    n_val_subjects: int
    train_subjects: list[str]
    val_subjects: list[str]
    config: PretextConfig

    def meta(self) -> dict[str, Any]:
        """JSON-serialisable provenance for ``models.save_pretext_model``."""
        from ecgssl import __version__

        return {
            "stage": "pretext",
            "seed": self.seed,
            "device": self.device,
            "torch": torch.__version__,
            "ecgssl": __version__,
            "config": self.config.to_dict(),
            "n_train_windows": self.n_train_windows,
            "n_val_windows": self.n_val_windows,
            "train_subjects": list(self.train_subjects),
            "val_subjects": list(self.val_subjects),
            "val_accuracy": dict(self.val_accuracy),
            "epochs_trained": len(self.history),
        }


def split_subjects(
    subjects: ArrayLike, val_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Choose validation subjects deterministically from the seed.

    Parameters
    ----------
    subjects : array-like of str, shape (n_windows,)
        Subject id of each window.
    val_fraction : float
        Share of distinct subjects for validation, in [0, 1). Rounded to the
        nearest count, but at least 1 when there are >= 2 subjects and the share is
        > 0, and at most all subjects but one.
    seed : int
        Seed.

    Returns
    -------
    train_subjects, val_subjects : list of str
        Sorted, disjoint.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    unique = sorted({str(s) for s in np.asarray(subjects).ravel().tolist()})
    n = len(unique)
    if n < 2 or val_fraction == 0:
        n_val = 0
    else:
        n_val = min(n - 1, max(1, math.floor(val_fraction * n + 0.5)))
    rng = np.random.default_rng(stable_seed(seed, "split"))
    chosen = set(rng.permutation(n)[:n_val].tolist())
    val = [s for i, s in enumerate(unique) if i in chosen]
    train = [s for i, s in enumerate(unique) if i not in chosen]
    return train, val


def _as_windows(windows: Any) -> Any:
    if not (hasattr(windows, "shape") and hasattr(windows, "__getitem__")):
        windows = np.asarray(windows, dtype=np.float32)
    shape = tuple(windows.shape)
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"windows must have shape (n_windows, n_samples), got {shape}")
    return windows


def _load_batch(windows: Any, index: np.ndarray, device: torch.device) -> torch.Tensor:
    """Read the rows ``index`` (sorted, for memmap locality) as float32 tensor."""
    rows = np.ascontiguousarray(np.asarray(windows[index]), dtype=np.float32)
    tensor = torch.from_numpy(rows)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _forward_backward(
    model: PretextNet,
    signals: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    l2: float,
    generator: torch.Generator,
    micro_batch: int | None,
    device: torch.device,
) -> torch.Tensor:
    """Forward and backward of one step (gradients accumulate); return the loss.

    With ``micro_batch``, rows go through in chunks, each chunk's loss weighted by
    its share of the rows, and the L2 term is added once: the sum is the one-pass
    objective and its gradient the one-pass gradient (up to float rounding).
    """
    n = signals.shape[0]
    chunk = n if micro_batch is None else min(micro_batch, n)
    total = torch.zeros((), device=device)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        with autocast(device):  # bf16 on CUDA, a no-op on the CPU
            logits = model(signals[rows], generator)
        part, _ = pretext_loss(logits.float(), targets[rows], weights, None, 0.0)
        part = part * (logits.shape[0] / n)
        if start + chunk >= n and l2 > 0:
            part = part + l2 * l2_penalty(model).to(part.device)
        part.backward()
        total = total + part.detach()
    return total


def _fingerprint(
    config: PretextConfig,
    seed: int,
    windows: Any,
    subjects: np.ndarray,
    val_subjects: list[str],
    device: torch.device,
    micro_batch: int | None,
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed (all but the epoch count).

    ``micro_batch`` is part of it: dropout masks are drawn chunk by chunk.
    """
    n, length = windows.shape
    probe = _load_batch(windows, np.unique([0, n // 2, n - 1]), torch.device("cpu"))
    digest = hashlib.sha256(probe.numpy().tobytes())
    digest.update("\0".join(subjects.tolist()).encode())
    cfg = config.to_dict()
    cfg.pop("epochs")
    return json.loads(
        json.dumps(
            {
                "seed": int(seed),
                "config": cfg,
                "n_windows": int(n),
                "length": int(length),
                "val_subjects": val_subjects,
                "data": digest.hexdigest(),
                "device_type": device.type,
                "micro_batch": micro_batch,
            }
        )
    )


def _format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _evaluate(
    model: PretextNet,
    windows: Any,
    index: np.ndarray,
    config: PretextConfig,
    weights: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[float, np.ndarray, float]:
    """Validation loss, per-task accuracy and top-1 version accuracy (no step)."""
    model.eval()
    n_tasks = len(TASKS)
    bce_sum = torch.zeros(n_tasks, dtype=torch.float64)
    correct = torch.zeros(n_tasks, dtype=torch.float64)
    top1 = 0
    n_rows = 0
    with torch.no_grad():
        for start in range(0, len(index), config.batch_size):
            x = _load_batch(windows, index[start : start + config.batch_size], device)
            signals, targets = make_pretext_batch(x, config.transforms, generator)
            with autocast(device):
                logits = model(signals).float()
            _, per_task = pretext_loss(logits, targets, weights, None, 0.0)
            rows = signals.shape[0]
            bce_sum += per_task.double().cpu() * rows
            correct += ((logits > 0) == (targets > 0.5)).sum(dim=0).double().cpu()
            top1 += int((logits.argmax(dim=1) == targets.argmax(dim=1)).sum())
            n_rows += rows
        bce = bce_sum / n_rows
        loss = float((weights.double().cpu() * bce).sum())
        loss += config.l2 * float(l2_penalty(model))
    return loss, (correct / n_rows).numpy(), top1 / n_rows


def pretrain(
    windows: ArrayLike,
    subjects: ArrayLike,
    *,
    config: PretextConfig,
    seed: int,
    device: str | torch.device,
    log: Callable[[str], None] | None = None,
    checkpoint_path: str | Path | None = None,
    log_every: int = 50,
    micro_batch: int | None = None,
) -> PretrainResult:
    """Train the encoder and the seven heads on the transformation-recognition task.

    Validation is on a held-out share of subjects (see :func:`split_subjects`); none
    of their windows is trained on. Each epoch shuffles the training windows, and
    each batch of ``batch_size`` windows becomes ``7 * batch_size`` signals. The
    learning rate decays by ``lr_decay`` every ``lr_decay_steps`` optimizer steps
    (staircase). Validation transformations use a fixed seed, so the validation
    accuracy is comparable across epochs. Deterministic on the CPU for a given seed.

    Parameters
    ----------
    windows : array-like, shape (n_windows, n_samples), float32
        Pretext windows. Read batch by batch (a numpy memmap is never loaded whole).
    subjects : array-like of str, shape (n_windows,)
        Subject id of each window, unique across datasets (e.g. ``"dreamer/s01"``).
    config : PretextConfig
        Hyperparameters.
    seed : int
        Seed of the split, initial weights, shuffling, transformations and dropout.
    device : str or torch.device
        Where to train.
    log : callable or None
        Receives progress lines; None logs them to this module's logger.
    checkpoint_path : str, Path or None
        If given, the full training state is written there (atomically) after every
        epoch, and a compatible checkpoint found there at the start is resumed from,
        giving the same result as an uninterrupted run. A checkpoint of another run
        (other data, seed or hyperparameters except ``epochs``) is ignored and
        overwritten. The previous epoch's checkpoint is kept as ``<name>.prev``; a
        corrupt or partial checkpoint is reported and the last intact one is used
        (or training starts afresh).
    log_every : int
        Emit a progress line every this many steps (besides one per epoch).
    micro_batch : int or None
        If set, each step's ``7 * batch_size`` signals go through forward and
        backward this many at a time, with gradients accumulated: the same loss and
        gradient as one pass (the dropout masks are drawn chunk by chunk, so they
        differ), at a fraction of the activation memory. None: one pass.

    Returns
    -------
    PretrainResult
    """
    if not isinstance(config, PretextConfig):
        raise TypeError(f"config must be a PretextConfig, got {type(config).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {seed!r}")
    seed = int(seed)
    if micro_batch is not None and (
        isinstance(micro_batch, bool)
        or not isinstance(micro_batch, int)
        or micro_batch < 1
    ):
        raise ValueError(
            f"micro_batch must be None or an int >= 1, got {micro_batch!r}"
        )
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be an int >= 1, got {log_every!r}")
    device = torch.device(device)
    emit = log if log is not None else logger.info

    windows = _as_windows(windows)
    n_windows, length = windows.shape
    subjects = np.asarray(subjects).astype(str)
    if subjects.shape != (n_windows,):
        raise ValueError(
            f"subjects must have shape ({n_windows},) like windows, got "
            f"{subjects.shape}"
        )
    config.transforms.check_length(length)
    train_subjects, val_subjects = split_subjects(subjects, config.val_fraction, seed)
    is_val = np.isin(subjects, val_subjects)
    train_idx = np.flatnonzero(~is_val)
    val_idx = np.flatnonzero(is_val)
    if len(train_idx) == 0:
        raise ValueError("no training windows left after the validation split")

    init_gen = torch.Generator().manual_seed(stable_seed(seed, "init"))
    encoder = Encoder(**config.encoder, generator=init_gen)
    heads = PretextHeads(
        n_features=encoder.n_features, dropout=config.dropout, generator=init_gen
    )
    conv_flops_per_signal(encoder, length)  # raises if the windows are too short
    model = PretextNet(encoder, heads).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=config.lr_decay_steps, gamma=config.lr_decay
    )
    generators = {
        "shuffle": torch.Generator().manual_seed(stable_seed(seed, "shuffle")),
        "augment": torch.Generator(device=device).manual_seed(
            stable_seed(seed, "augment")
        ),
        "dropout": torch.Generator(device=device).manual_seed(
            stable_seed(seed, "dropout")
        ),
    }
    val_seed = stable_seed(seed, "validation")
    weights = torch.tensor(config.task_weights, dtype=torch.float32, device=device)
    fingerprint = _fingerprint(
        config, seed, windows, subjects, val_subjects, device, micro_batch
    )

    history: list[dict[str, Any]] = []
    start_epoch = 0
    state = None
    if checkpoint_path is not None:
        state = load_checkpoint(
            checkpoint_path,
            expected_format=CHECKPOINT_FORMAT,
            fingerprint=fingerprint,
            log=emit,
        )
        if state is not None and not 0 < state.get("epoch", -1) <= config.epochs:
            emit(
                f"checkpoint {checkpoint_path} has {state.get('epoch')} epochs, more "
                f"than the {config.epochs} asked for; starting from scratch"
            )
            state = None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            for name, gen in generators.items():
                gen.set_state(state["generators"][name].cpu())
            history = list(state["history"])
        except (KeyError, RuntimeError, TypeError, ValueError) as err:
            raise DataFormatError(
                checkpoint_path, "checkpoint", f"cannot restore the state: {err}"
            ) from err
        start_epoch = int(state["epoch"])
        emit(f"resuming from {checkpoint_path} after epoch {start_epoch}")

    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    emit(
        f"pretext: {len(train_idx)} training windows ({len(train_subjects)} subjects), "
        f"{len(val_idx)} validation windows ({len(val_subjects)} subjects), "
        f"{length} samples, {steps_per_epoch} steps/epoch, device {device}"
    )

    run_start = time.perf_counter()
    steps_this_run = 0
    total_steps_left = (config.epochs - start_epoch) * steps_per_epoch
    for epoch in range(start_epoch, config.epochs):
        epoch_start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_idx), generator=generators["shuffle"]).numpy()
        loss_sum = 0.0
        n_seen = 0
        train_seconds = 0.0
        for step in range(steps_per_epoch):
            t0 = time.perf_counter()
            batch = np.sort(
                train_idx[
                    order[step * config.batch_size : (step + 1) * config.batch_size]
                ]
            )
            x = _load_batch(windows, batch, device)
            signals, targets = make_pretext_batch(
                x, config.transforms, generators["augment"]
            )
            optimizer.zero_grad(set_to_none=True)
            loss = _forward_backward(
                model,
                signals,
                targets,
                weights,
                config.l2,
                generators["dropout"],
                micro_batch,
                device,
            )
            optimizer.step()
            scheduler.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"pretext loss is {value} at epoch {epoch + 1}, step {step + 1}"
                )
            loss_sum += value * len(batch)
            n_seen += len(batch)
            train_seconds += time.perf_counter() - t0
            steps_this_run += 1
            if (step + 1) % log_every == 0 and step + 1 < steps_per_epoch:
                elapsed = time.perf_counter() - run_start
                eta = elapsed / steps_this_run * (total_steps_left - steps_this_run)
                emit(
                    f"epoch {epoch + 1}/{config.epochs} step {step + 1}/"
                    f"{steps_per_epoch} loss {loss_sum / n_seen:.4f} "
                    f"{n_seen / train_seconds:.1f} windows/s ETA {_format_eta(eta)}"
                )

        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "steps": int(scheduler.last_epoch),
            "train_loss": loss_sum / n_seen,
        }
        if len(val_idx):
            val_gen = torch.Generator(device=device).manual_seed(val_seed)
            val_loss, acc, top1 = _evaluate(
                model, windows, val_idx, config, weights, val_gen, device
            )
            row["val_loss"] = val_loss
            row.update(
                {f"val_acc_{t}": float(a) for t, a in zip(TASKS, acc, strict=True)}
            )
            row["val_acc_mean"] = float(acc.mean())
            row["val_top1"] = float(top1)
        else:
            row["val_loss"] = None
            row.update({f"val_acc_{t}": None for t in TASKS})
            row["val_acc_mean"] = None
            row["val_top1"] = None
        row["lr"] = float(optimizer.param_groups[0]["lr"])
        row["seconds"] = time.perf_counter() - epoch_start
        row["windows_per_s"] = n_seen / train_seconds if train_seconds > 0 else None
        history.append(row)

        if checkpoint_path is not None:
            save_checkpoint(
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": fingerprint,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "generators": {k: g.get_state() for k, g in generators.items()},
                    "history": history,
                },
                checkpoint_path,
            )
        elapsed = time.perf_counter() - run_start
        eta = elapsed / steps_this_run * (total_steps_left - steps_this_run)
        val_text = (
            "no validation"
            if row["val_loss"] is None
            else f"val loss {row['val_loss']:.4f} top1 {row['val_top1']:.3f} acc ("
            + " ".join(f"{t}={row[f'val_acc_{t}']:.2f}" for t in TASKS)
            + ")"
        )
        emit(
            f"epoch {epoch + 1}/{config.epochs} train loss {row['train_loss']:.4f} "
            f"{val_text} lr {row['lr']:.3g} {row['seconds']:.1f}s "
            f"{row['windows_per_s'] or 0:.1f} windows/s ETA {_format_eta(eta)}"
        )

    model.eval()
    model.cpu()
    last = history[-1] if history else {}
    return PretrainResult(
        encoder=model.encoder,
        heads=model.heads,
        history=history,
        val_accuracy={t: last.get(f"val_acc_{t}") for t in TASKS},
        seed=seed,
        device=str(device),
        n_train_windows=len(train_idx),
        n_val_windows=len(val_idx),
        n_train_subjects=len(train_subjects),
        n_val_subjects=len(val_subjects),
        train_subjects=train_subjects,
        val_subjects=val_subjects,
        config=config,
    )

"""One training skeleton for every loop of the library.

Pretext training and classifier fine-tuning differ in what one epoch does and how a
model is scored; everything around that is the same and lives here: epochs counted
from 1, a validation pass after each epoch, optional model selection on a validation
metric with early stopping, checkpoints that resume to the uninterrupted result, and
one progress line per epoch with an ETA.

A checkpoint holds the full state (model, optimiser, scheduler, random generators,
history, the best state so far); it is sealed and rotated by
:mod:`ecgssl.learning.checkpoint` and resumed only when its ``fingerprint`` (a hex
digest of the data, seed and configuration) matches.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgssl.learning.checkpoint import load_checkpoint, save_checkpoint
from ecgssl.util.checks import check_int, check_number, check_option
from ecgssl.util.errors import DataFormatError

__all__ = ["Selection", "TrainingRun", "fingerprint", "fit", "format_eta"]


def fingerprint(identity: Any, *arrays: np.ndarray) -> str:
    """SHA-256 hex digest of a JSON-able identity and the bytes of some arrays.

    Parameters
    ----------
    identity : object
        Seeds, configuration, shapes, device type: anything JSON can encode (keys
        are sorted, so dict order does not matter).
    *arrays : ndarray
        Data the run depends on (hashed by content).
    """
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def format_eta(seconds: float) -> str:
    """``H:MM:SS`` of a duration, ``?`` when it is not finite."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True)
class Selection:
    """Keep the epoch with the best validation metric; stop when it stops improving.

    Attributes
    ----------
    metric : str
        Key of the validation row to watch (e.g. ``"val_loss"``).
    mode : {"min", "max"}
        Whether lower or higher is better.
    patience : int or None
        Stop after this many epochs without improvement; None: train all epochs.
    """

    metric: str
    mode: str = "min"
    patience: int | None = None

    def __post_init__(self) -> None:
        """Validate the fields."""
        check_option(self.mode, ("min", "max"), "mode")
        if self.patience is not None:
            check_int(self.patience, "patience", minimum=1)

    def better(self, score: float, best: float | None) -> bool:
        """Whether ``score`` improves on ``best`` (any finite score beats None)."""
        if not math.isfinite(score):
            return False
        if best is None:
            return True
        return score < best if self.mode == "min" else score > best


@dataclass
class TrainingRun:
    """What :func:`fit` needs: the model and what one epoch and one validation do.

    Attributes
    ----------
    name : str
        Prefix of the progress lines (e.g. ``"pretext"``, ``"supervised"``).
    model : nn.Module
        Everything that trains; its state is checkpointed and, with a
        :class:`Selection`, restored to the best epoch at the end.
    optimizer : torch.optim.Optimizer
    epochs : int
        Maximum number of epochs.
    train_epoch : callable
        ``train_epoch(epoch) -> dict``: one pass over the training data (epoch
        counted from 1); returns the row entries to record (e.g. ``train_loss``).
    validate : callable or None
        ``validate() -> dict``: scores on held-out data after each epoch, in eval
        mode, changing no state; None: no validation.
    describe : callable
        ``describe(row) -> str``: the epoch's progress text (without timing).
    scheduler : object or None
        A learning-rate scheduler whose state is checkpointed.
    generators : dict
        Name -> ``torch.Generator`` of every random stream of the run; their
        states are checkpointed.
    selection : Selection or None
        Model selection and early stopping on a validation metric.
    fingerprint : str
        Identity of the run; a checkpoint of another run is never resumed.
    checkpoint_path : Path or None
        Where to checkpoint; None: no checkpoints.
    checkpoint_format : str
        The ``"format"`` value of this kind of run's checkpoints.
    checkpoint_every_s : float
        Save after an epoch only if this many seconds passed since the last save
        (0: after every epoch).
    log : callable
        Receives the progress lines.
    """

    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    epochs: int
    train_epoch: Callable[[int], dict[str, Any]]
    validate: Callable[[], dict[str, Any]] | None
    describe: Callable[[dict[str, Any]], str]
    log: Callable[[str], None]
    scheduler: Any = None
    generators: dict[str, torch.Generator] = field(default_factory=dict)
    selection: Selection | None = None
    fingerprint: str = ""
    checkpoint_path: Path | None = None
    checkpoint_format: str = "ecgssl-training-checkpoint-v2"
    checkpoint_every_s: float = 0.0


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    history : list of dict
        One row per epoch trained: ``epoch``, what ``train_epoch`` and ``validate``
        returned, ``lr`` and ``seconds``.
    best_epoch : int or None
        The selected epoch (its weights are in the model), with a selection.
    stopped_early : bool
        Whether the patience ended training before ``epochs``.
    """

    history: list[dict[str, Any]]
    best_epoch: int | None
    stopped_early: bool


def _cpu_copy(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _restore(run: TrainingRun, state: dict[str, Any]) -> None:
    try:
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        if run.scheduler is not None:
            run.scheduler.load_state_dict(state["scheduler"])
        for name, gen in run.generators.items():
            gen.set_state(state["generators"][name].cpu())
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise DataFormatError(
            run.checkpoint_path,
            "checkpoint",
            f"cannot restore the state: {err}; delete the file to start afresh",
        ) from err


def fit(run: TrainingRun) -> FitResult:
    """Train for ``run.epochs`` epochs (fewer with early stopping), resuming if able.

    Each epoch: ``train_epoch``, then ``validate``, then the row is recorded, the
    best state kept (with a selection), a checkpoint saved (by the time rule) and a
    progress line logged. With a selection, the model ends with the best epoch's
    weights. A run resumed from a checkpoint ends exactly as an uninterrupted one.

    Parameters
    ----------
    run : TrainingRun

    Returns
    -------
    FitResult
    """
    check_int(run.epochs, "epochs", minimum=1)
    check_number(run.checkpoint_every_s, "checkpoint_every_s", minimum=0.0)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": None, "score": None, "model": None}
    stopped = False
    done = 0
    if run.checkpoint_path is not None:
        state = load_checkpoint(
            run.checkpoint_path,
            expected_format=run.checkpoint_format,
            fingerprint=run.fingerprint,
            log=run.log,
        )
        if state is not None and not 0 < state.get("epoch", -1) <= run.epochs:
            run.log(
                f"checkpoint {run.checkpoint_path} has {state.get('epoch')} epochs, "
                f"not 1 to {run.epochs}; starting from scratch"
            )
            state = None
        if state is not None:
            _restore(run, state)
            history = list(state["history"])
            best = dict(state["best"])
            stopped = bool(state["stopped"])
            done = int(state["epoch"])
            run.log(f"resuming from {run.checkpoint_path} after epoch {done}")

    last_save = time.perf_counter()
    run_seconds = 0.0
    for epoch in range(done + 1, run.epochs + 1):
        if stopped:
            break
        start = time.perf_counter()
        run.model.train()
        row: dict[str, Any] = {"epoch": epoch, **run.train_epoch(epoch)}
        if run.validate is not None:
            row |= run.validate()
        row["lr"] = float(run.optimizer.param_groups[0]["lr"])
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        note = ""
        if run.selection is not None:
            score = row.get(run.selection.metric)
            if score is not None and run.selection.better(float(score), best["score"]):
                best = {
                    "epoch": epoch,
                    "score": float(score),
                    "model": _cpu_copy(run.model.state_dict()),
                }
                note = " (best)"
            patience = run.selection.patience
            if patience is not None and epoch - (best["epoch"] or 0) >= patience:
                stopped = True
                note += f"; no better {run.selection.metric} for {patience} epochs"
        now = time.perf_counter()
        if (
            run.checkpoint_path is not None
            and now - last_save >= run.checkpoint_every_s
        ):
            save_checkpoint(
                {
                    "format": run.checkpoint_format,
                    "fingerprint": run.fingerprint,
                    "epoch": epoch,
                    "model": run.model.state_dict(),
                    "optimizer": run.optimizer.state_dict(),
                    "scheduler": None
                    if run.scheduler is None
                    else run.scheduler.state_dict(),
                    "generators": {k: g.get_state() for k, g in run.generators.items()},
                    "history": history,
                    "best": best,
                    "stopped": stopped,
                },
                run.checkpoint_path,
            )
            last_save = time.perf_counter()
        run_seconds += row["seconds"]
        left = run.epochs - epoch
        eta = run_seconds / (epoch - done) * left
        run.log(
            f"{run.name} epoch {epoch}/{run.epochs}: {run.describe(row)} "
            f"{row['seconds']:.1f}s ETA {format_eta(eta)}{note}"
        )
    if stopped and len(history) < run.epochs:
        run.log(f"{run.name}: stopped early after epoch {len(history)}")
    if run.selection is not None and best["model"] is not None:
        run.model.load_state_dict(copy.deepcopy(best["model"]))
    return FitResult(
        history=history,
        best_epoch=best["epoch"] if run.selection is not None else None,
        stopped_early=stopped and len(history) < run.epochs,
    )

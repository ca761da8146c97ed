"""Pretext training: teach a backbone a self-supervised pretext task.

:func:`pretrain` holds out a share of subjects for validation, then runs
:func:`ecgssl.learning.training.fit` with one epoch being a shuffled pass over the
training windows in batches of ``batch_size`` windows. The method
(:data:`ecgssl.learning.pretext.METHODS`, by default the paper's transformation
recognition, each window giving seven signals) and the backbone
(:data:`ecgssl.learning.backbones.BACKBONES`, by default the paper's CNN) are
chosen by name in the :class:`PretextConfig`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from ecgssl.config.defaults import defaults
from ecgssl.config.plan import PRETEXT_WORKFLOW_KEYS
from ecgssl.evaluation.folds import split_subjects
from ecgssl.learning.backbones import (
    BACKBONES,
    build_backbone,
    check_backbone_params,
)
from ecgssl.learning.pretext import METHODS, check_method, check_method_params
from ecgssl.learning.pretext.transformation_recognition import (
    Scores,
    TransformationRecognition,
)
from ecgssl.learning.training import TrainingRun, fingerprint, fit, format_eta
from ecgssl.learning.transforms import TASKS, TransformParams
from ecgssl.util.checks import (
    check_int,
    check_keys,
    check_number,
    check_option,
    check_probability,
    validate_type,
)
from ecgssl.util.errors import ConfigError
from ecgssl.util.seeds import stable_seed

__all__ = ["CHECKPOINT_FORMAT", "PretextConfig", "PretrainResult", "pretrain"]

logger = logging.getLogger(__name__)

#: Value of the ``"format"`` key of a pretext training checkpoint.
CHECKPOINT_FORMAT = "ecgssl-pretext-checkpoint-v2"

_DEFAULTS = defaults("pretext")


@dataclass
class PretextConfig:
    """Hyperparameters of the pretext stage (defaults: the schema's, the paper's).

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
        Arguments of the paper's network (:class:`PaperCNN`): ``filters``,
        ``kernels``, ``pool``, ``pool_stride``, ``negative_slope``. Used only with
        ``backbone="paper_cnn"``; with another backbone it must keep its defaults.
    method : str
        Pretext method, a key of :data:`ecgssl.learning.pretext.METHODS`.
    backbone : str
        Network trained, a key of :data:`ecgssl.learning.backbones.BACKBONES`.
    backbone_params : dict
        Constructor arguments of the backbone ({}: its defaults); for
        ``paper_cnn`` they override ``encoder``.
    method_params : dict
        The method's own settings (its ``PARAMS``; {}: its defaults). The
        paper's method takes none (it uses ``dropout``, ``task_weights``).
    """

    epochs: int = _DEFAULTS["epochs"]
    batch_size: int = _DEFAULTS["batch_size"]
    lr: float = _DEFAULTS["lr"]
    lr_decay: float = _DEFAULTS["lr_decay"]
    lr_decay_steps: int = _DEFAULTS["lr_decay_steps"]
    l2: float = _DEFAULTS["l2"]
    dropout: float = _DEFAULTS["dropout"]
    task_weights: tuple[float, ...] = tuple(_DEFAULTS["task_weights"])
    val_fraction: float = _DEFAULTS["val_fraction"]
    transforms: TransformParams = field(default_factory=TransformParams)
    encoder: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULTS["encoder"]))
    method: str = _DEFAULTS["method"]
    backbone: str = _DEFAULTS["backbone"]
    backbone_params: dict[str, Any] = field(
        default_factory=lambda: dict(_DEFAULTS["backbone_params"])
    )
    method_params: dict[str, Any] = field(
        default_factory=lambda: dict(_DEFAULTS["method_params"])
    )

    def __post_init__(self) -> None:
        """Convert and validate the values."""
        if isinstance(self.transforms, Mapping):
            check_keys(
                self.transforms,
                [f.name for f in dataclasses.fields(TransformParams)],
                "transforms",
            )
            self.transforms = TransformParams(**self.transforms)
        validate_type(self.transforms, TransformParams, "transforms")
        for name in ("epochs", "batch_size", "lr_decay_steps"):
            setattr(self, name, check_int(getattr(self, name), name, minimum=1))
        self.lr = check_number(self.lr, "lr", minimum=0.0, exclusive_minimum=True)
        self.lr_decay = check_number(
            self.lr_decay, "lr_decay", minimum=0.0, maximum=1.0, exclusive_minimum=True
        )
        self.l2 = check_number(self.l2, "l2", minimum=0.0)
        self.dropout = check_probability(self.dropout, "dropout")
        self.val_fraction = check_probability(self.val_fraction, "val_fraction")
        weights = tuple(self.task_weights)
        if len(weights) != len(TASKS):
            raise ValueError(
                f"task_weights must be {len(TASKS)} numbers, got {self.task_weights!r}"
            )
        self.task_weights = tuple(
            check_number(w, "task_weights", minimum=0.0) for w in weights
        )
        self.encoder = check_backbone_params("paper_cnn", self.encoder, what="encoder")
        check_option(self.method, METHODS, "method")
        check_option(self.backbone, BACKBONES, "backbone")
        if (
            self.backbone != "paper_cnn"
            and build_backbone("paper_cnn", self.encoder).config
            != build_backbone("paper_cnn").config
        ):
            raise ValueError(
                f"encoder holds paper_cnn's parameters; for backbone {self.backbone} "
                "set backbone_params instead"
            )
        self.backbone_params = validate_type(
            self.backbone_params, Mapping, "backbone_params"
        )
        check_backbone_params(  # for paper_cnn: merged over encoder
            self.backbone, self.backbone_arguments(), what="backbone_params"
        )
        self.backbone_params = dict(self.backbone_params)
        check_method(self.method, BACKBONES[self.backbone])
        self.method_params = check_method_params(self.method, self.method_params)

    def backbone_arguments(self) -> dict[str, Any]:
        """Constructor arguments of the backbone (``encoder`` merged for paper_cnn)."""
        if self.backbone == "paper_cnn":
            return {**self.encoder, **self.backbone_params}
        return dict(self.backbone_params)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PretextConfig:
        """Build a config from a plain dict (e.g. the YAML ``pretext`` section).

        Parameters
        ----------
        d : dict
            Any subset of the fields (``transforms`` may be a dict); the workflow
            keys (:data:`ecgssl.config.plan.PRETEXT_WORKFLOW_KEYS`) are ignored.

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
        kwargs = {k: v for k, v in d.items() if k not in PRETEXT_WORKFLOW_KEYS}
        try:
            check_keys(kwargs, [f.name for f in dataclasses.fields(cls)], "pretext")
            return cls(**kwargs)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid pretext config: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict that :meth:`from_dict` accepts."""
        d = dataclasses.asdict(self)
        d["task_weights"] = list(self.task_weights)
        return d


@dataclass
class PretrainResult:
    """Outcome of :func:`pretrain`.

    Attributes
    ----------
    encoder : nn.Module
        Trained encoder (CPU, eval mode).
    heads : nn.Module
        Trained pretraining-only part of the method (CPU, eval mode): the paper's
        seven heads, the projection head, the masked-patch decoder.
    history : list of dict
        One row per epoch: ``epoch`` (from 1), ``steps`` (cumulative optimizer
        steps), ``train_loss`` (mean objective incl. the L2 term),
        ``windows_per_s`` (training windows per second of training), the
        validation columns of the method (``val_...``; for the paper's method
        :meth:`Scores.as_row`: loss, per-task accuracy and balanced accuracy,
        top-1; None without validation subjects), ``lr`` (after the epoch) and
        ``seconds``.
    val_scores : Scores or None
        The last epoch's validation scores of the paper's method (None for the
        other methods: see ``history``).
    seed : int
    device : str
    precision : str
        ``"fp32"`` or ``"bf16"``: the arithmetic that ran.
    train_subjects, val_subjects : list of str
    n_train_windows, n_val_windows : int
    config : PretextConfig
    """

    encoder: torch.nn.Module
    heads: torch.nn.Module
    history: list[dict[str, Any]]
    val_scores: Scores | None
    seed: int
    device: str
    precision: str
    train_subjects: list[str]
    val_subjects: list[str]
    n_train_windows: int
    n_val_windows: int
    config: PretextConfig

    @property
    def n_train_subjects(self) -> int:
        """Number of training subjects."""
        return len(self.train_subjects)

    @property
    def n_val_subjects(self) -> int:
        """Number of validation subjects."""
        return len(self.val_subjects)

    @property
    def val_accuracy(self) -> dict[str, float | None]:
        """Per-task validation accuracy (flattering; see :class:`Scores`)."""
        if self.val_scores is None:
            return dict.fromkeys(TASKS)
        return dict(self.val_scores.accuracy)

    def meta(self) -> dict[str, Any]:
        """JSON-serialisable provenance stored with the model."""
        from ecgssl import __version__

        scores = self.val_scores
        return {
            "stage": "pretext",
            "method": self.config.method,
            "backbone": self.config.backbone,
            "backbone_config": dict(self.encoder.config),
            "seed": self.seed,
            "device": self.device,
            "precision": self.precision,
            "torch": torch.__version__,
            "ecgssl": __version__,
            "config": self.config.to_dict(),
            "n_train_windows": self.n_train_windows,
            "n_val_windows": self.n_val_windows,
            "train_subjects": list(self.train_subjects),
            "val_subjects": list(self.val_subjects),
            "val_accuracy": self.val_accuracy,
            "val_balanced_accuracy": None
            if scores is None
            else dict(scores.balanced_accuracy),
            "val_top1": None if scores is None else scores.top1,
            "not_learned": None if scores is None else scores.not_learned(),
            "epochs_trained": len(self.history),
            "validation": {
                k: v for k, v in self.history[-1].items() if k.startswith("val_")
            }
            if self.history
            else {},
        }


def _as_windows(windows: Any) -> Any:
    if not (hasattr(windows, "shape") and hasattr(windows, "__getitem__")):
        windows = np.asarray(windows, dtype=np.float32)
    shape = tuple(windows.shape)
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"windows must have shape (n_windows, n_samples), got {shape}")
    return windows


def load_batch(windows: Any, index: np.ndarray, device: torch.device) -> torch.Tensor:
    """Read the rows ``index`` (sorted, for memmap locality) as a float32 tensor."""
    rows = np.ascontiguousarray(np.asarray(windows[index]), dtype=np.float32)
    tensor = torch.from_numpy(rows)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


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
    precision: str = "fp32",
) -> PretrainResult:
    """Train a backbone on a pretext task (by default the paper's, with its CNN).

    Validation is on a held-out share of subjects (see
    :func:`ecgssl.evaluation.folds.split_subjects`); none of their windows is
    trained on. Each epoch shuffles the training windows; the learning rate decays
    by ``lr_decay`` every ``lr_decay_steps`` optimizer steps (staircase).
    Validation transformations use a fixed seed, so validation scores are comparable
    across epochs. Deterministic on the CPU for a given seed.

    Parameters
    ----------
    windows : array-like, shape (n_windows, n_samples), float32
        Pretext windows, read batch by batch (a memmap is never loaded whole).
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
        If given, the full training state is saved there after every epoch and a
        checkpoint of the same run found there is resumed from, giving the same
        result as an uninterrupted run (see :func:`ecgssl.learning.training.fit`).
    log_every : int
        Emit a progress line every this many steps (besides one per epoch).
    micro_batch : int or None
        If set, each step's signals (``7 * batch_size`` for the paper's method) go
        through forward and backward this many at a time, with gradients
        accumulated: the same loss and gradient as one pass at a fraction of the
        activation memory. None: one pass. The contrastive method, whose loss
        couples the whole batch, ignores it.
    precision : {"fp32", "bf16"}
        Arithmetic of the forward and backward passes (a resolved precision, see
        :func:`ecgssl.learning.device.resolve_precision`); weights, optimiser
        state and loss are float32 either way.

    Returns
    -------
    PretrainResult
    """
    validate_type(config, PretextConfig, "config")
    seed = check_int(seed, "seed")
    if micro_batch is not None:
        check_int(micro_batch, "micro_batch", minimum=1)
    check_int(log_every, "log_every", minimum=1)
    device = torch.device(device)
    emit = log if log is not None else logger.info
    windows = _as_windows(windows)
    subjects = np.asarray(subjects).astype(str)
    config.transforms.check_length(windows.shape[1])
    split = _Split.of(subjects, n_windows=windows.shape[0], config=config, seed=seed)

    def gen(name: str, where: torch.device | str = "cpu") -> torch.Generator:
        return torch.Generator(device=where).manual_seed(stable_seed(seed, name))

    init = gen("init")
    encoder = build_backbone(
        config.backbone, config.backbone_arguments(), generator=init
    )
    encoder.flops_per_signal(windows.shape[1])  # raises if the windows don't fit
    method = METHODS[config.method].build(
        encoder, config, generator=init, device=device,
        precision=check_option(precision, ("fp32", "bf16"), "precision"),
    )  # fmt: skip
    optimizer = torch.optim.Adam(method.model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=config.lr_decay_steps, gamma=config.lr_decay
    )
    generators = {
        "shuffle": gen("shuffle"),
        "augment": gen("augment", device),
        "dropout": gen("dropout", device),
    }
    emit(
        f"pretext {config.method} on {config.backbone}: {split.describe()}, "
        f"{windows.shape[1]} samples, "
        f"{math.ceil(len(split.train) / config.batch_size)} steps/epoch, "
        f"device {device}, {precision}"
    )

    def validate() -> dict[str, Any]:
        if len(split.val) == 0:
            return method.validate(None, gen("validation", device))
        batches = _batches(windows, split.val, config.batch_size, device)
        return method.validate(batches, gen("validation", device))

    train_epoch = _Epochs(
        method, windows, split.train, config, optimizer, scheduler, generators,
        micro_batch, emit, log_every,
    )  # fmt: skip
    run = TrainingRun(
        name="pretext",
        model=method.model,
        optimizer=optimizer,
        scheduler=scheduler,
        generators=generators,
        epochs=config.epochs,
        train_epoch=train_epoch,
        validate=validate,
        describe=lambda row: (
            f"train loss {row['train_loss']:.4f} "
            f"{method.describe(row)} lr {row['lr']:.3g} "
            f"{row['windows_per_s'] or 0:.1f} windows/s"
        ),
        log=emit,
        fingerprint=_fingerprint(
            windows, subjects, split, config, seed, device, micro_batch, precision
        ),
        checkpoint_path=None if checkpoint_path is None else Path(checkpoint_path),
        checkpoint_format=CHECKPOINT_FORMAT,
    )
    outcome = fit(run)
    model = method.model.eval().cpu()
    return PretrainResult(
        encoder=model.encoder,
        heads=model.heads,
        history=outcome.history,
        val_scores=Scores.from_row(outcome.history[-1], "val_")
        if isinstance(method, TransformationRecognition)
        else None,
        seed=seed,
        device=str(device),
        precision=precision,
        train_subjects=split.train_subjects,
        val_subjects=split.val_subjects,
        n_train_windows=len(split.train),
        n_val_windows=len(split.val),
        config=config,
    )


@dataclass
class _Split:
    """Training and validation windows: whole subjects are held out."""

    train: np.ndarray
    val: np.ndarray
    train_subjects: list[str]
    val_subjects: list[str]

    @classmethod
    def of(
        cls, subjects: np.ndarray, *, n_windows: int, config: PretextConfig, seed: int
    ) -> _Split:
        if subjects.shape != (n_windows,):
            raise ValueError(
                f"subjects must have shape ({n_windows},) like windows, got "
                f"{subjects.shape}"
            )
        train_subjects, val_subjects = split_subjects(
            subjects, config.val_fraction, seed
        )
        is_val = np.isin(subjects, val_subjects)
        if is_val.all():
            raise ValueError("no training windows left after the validation split")
        return cls(
            np.flatnonzero(~is_val),
            np.flatnonzero(is_val),
            train_subjects,
            val_subjects,
        )

    def describe(self) -> str:
        return (
            f"{len(self.train)} training windows ({len(self.train_subjects)} "
            f"subjects), {len(self.val)} validation windows "
            f"({len(self.val_subjects)} subjects)"
        )


def _batches(
    windows: Any, rows: np.ndarray, batch_size: int, device: torch.device
) -> Iterator[torch.Tensor]:
    for i in range(0, len(rows), batch_size):
        yield load_batch(windows, rows[i : i + batch_size], device)


@dataclass
class _Epochs:
    """One training epoch: a shuffled pass over the training windows in batches."""

    method: Any  # a pretext method (see ecgssl.learning.pretext)
    windows: Any
    train: np.ndarray
    config: PretextConfig
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generators: dict[str, torch.Generator]
    micro_batch: int | None
    emit: Callable[[str], None]
    log_every: int

    def __call__(self, epoch: int) -> dict[str, Any]:
        size = self.config.batch_size
        n_steps = math.ceil(len(self.train) / size)
        order = torch.randperm(len(self.train), generator=self.generators["shuffle"])
        loss_sum, n_seen, seconds = 0.0, 0, 0.0
        for step in range(n_steps):
            t0 = time.perf_counter()
            rows = np.sort(self.train[order[step * size : (step + 1) * size].numpy()])
            x = load_batch(self.windows, rows, self.method.device)
            self.optimizer.zero_grad(set_to_none=True)
            value = float(self.method.step(x, self.generators, self.micro_batch))
            self.optimizer.step()
            self.scheduler.step()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"pretext loss is {value} at epoch {epoch}, step {step + 1}"
                )
            loss_sum += value * len(rows)
            n_seen += len(rows)
            seconds += time.perf_counter() - t0
            if (step + 1) % self.log_every == 0 and step + 1 < n_steps:
                eta = format_eta(seconds / (step + 1) * (n_steps - step - 1))
                self.emit(
                    f"epoch {epoch}/{self.config.epochs} step {step + 1}/{n_steps} "
                    f"loss {loss_sum / n_seen:.4f} {n_seen / seconds:.1f} windows/s "
                    f"ETA {eta}"
                )
        return {
            "steps": int(self.scheduler.last_epoch),
            "train_loss": loss_sum / n_seen,
            "windows_per_s": n_seen / seconds if seconds > 0 else None,
        }


def _fingerprint(
    windows: Any,
    subjects: np.ndarray,
    split: _Split,
    config: PretextConfig,
    seed: int,
    device: torch.device,
    micro_batch: int | None,
    precision: str,
) -> str:
    """What a checkpoint must match to be resumed (all but the epoch count)."""
    n = windows.shape[0]
    probe = load_batch(windows, np.unique([0, n // 2, n - 1]), torch.device("cpu"))
    identity = {
        "seed": seed,
        "config": {k: v for k, v in config.to_dict().items() if k != "epochs"},
        "shape": list(windows.shape),
        "val_subjects": split.val_subjects,
        "device_type": device.type,
        "micro_batch": micro_batch,  # dropout masks are drawn chunk by chunk
        "precision": precision,
    }
    names = np.frombuffer("\0".join(subjects).encode(), np.uint8)
    return fingerprint(identity, probe.numpy(), names)

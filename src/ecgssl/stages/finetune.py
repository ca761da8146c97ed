"""Fine-tune stage: train and evaluate one classifier on one fold."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ecgssl.config.plan import FEATURE_METHODS, TRANSDUCTIVE_METHODS
from ecgssl.data.labels import encode_labels
from ecgssl.data.store import read_ecg, read_windows
from ecgssl.evaluation.folds import subsample_per_subject, validation_split
from ecgssl.evaluation.metrics import classification_metrics
from ecgssl.learning.backbones import build_backbone
from ecgssl.learning.checkpoint import remove_checkpoint
from ecgssl.learning.classical import fit_predict
from ecgssl.learning.device import resolve_precision, select_device
from ecgssl.learning.features import normalise_per_subject
from ecgssl.learning.finetune import FinetuneConfig, train_classifier
from ecgssl.learning.modelfile import load_encoder
from ecgssl.stages.provenance import versions, write_json
from ecgssl.util.atomic import atomic_path
from ecgssl.util.errors import DataFormatError
from ecgssl.util.seeds import stable_seed

log = logging.getLogger(__name__)

#: A fine-tune job saves its training state after an epoch when this many seconds
#: have passed since the last save: short epochs are cheaper to redo than to save.
FINETUNE_CHECKPOINT_EVERY_S = 30.0

#: Methods that fit a scikit-learn classifier on frozen features, and which one.
PROBES = {"linear_probe": "logistic_regression", "knn_probe": "knn"}


@dataclass
class _Split:
    """The rows of one job: training (after the label budget), validation, test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    n_labelled_train: int


def split_rows(
    y: np.ndarray,
    subjects: np.ndarray,
    folds: pd.DataFrame,
    *,
    job: dict[str, Any],
    validation_fraction: float,
    fraction_seed: int,
    where: Path,
) -> _Split:
    """Test rows: the labelled windows of test fold k; the rest of the labelled
    windows train, after the label fraction and the inner validation split, both
    drawn from ``fraction_seed`` (the same for every method and scheme: every method
    is fitted and selected on the same windows, and the majority baseline is the
    same for all of them).

    Raises
    ------
    ecgssl.util.errors.DataFormatError
        If the folds do not cover the store, or the fold has no labelled test or
        training window (naming the dataset, label and fold).
    """
    if len(folds) != y.size or not (folds.row.to_numpy() == np.arange(y.size)).all():
        raise DataFormatError(where, "row", "folds must list every window; rebuild")
    labelled = y >= 0
    in_fold = folds.fold.to_numpy() == job["fold"]
    test = np.flatnonzero(labelled & in_fold)
    train = np.flatnonzero(labelled & ~in_fold)
    for name, rows in (("test", test), ("training", train)):
        if rows.size == 0:
            raise DataFormatError(
                where, "fold",
                f"{job['dataset']}/{job['label']}: fold {job['fold']} of "
                f"{job['protocol']} has no labelled {name} window (fewer folds?)",
            )  # fmt: skip
    budget = subsample_per_subject(
        train, subjects[train], job["label_fraction"], fraction_seed
    )
    fit_rows, val_rows = validation_split(
        budget, subjects[budget], protocol=job["protocol"],
        fraction=validation_fraction, seed=stable_seed(fraction_seed, "validation"),
    )  # fmt: skip
    return _Split(fit_rows, val_rows, test, int(train.size))


def finetune_stage(
    *,
    store: Path,
    folds_path: Path,
    metrics_path: Path,
    predictions_path: Path,
    job: dict[str, Any],
    label_spec: dict[str, Any],
    train: dict[str, Any],
    seed: int,
    fraction_seed: int,
    validation_fraction: float,
    device: str,
    precision: str = "auto",
    features_path: Path | None = None,
    encoder_path: Path | None = None,
    hrv_path: Path | None = None,
    encoder_config: dict[str, Any] | None = None,
    checkpoint_path: Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate one classifier on one fold; write metrics and predictions.

    ``job`` holds the identity (dataset, label, scheme, protocol, method, pretext,
    unit, scope, label_fraction, repeat, fold). ``checkpoint_path`` (next to the
    outputs; Snakemake removes the outputs of a failed job but not this file) lets a
    rerun of an interrupted job resume; it is removed once the outputs are written.
    """
    method, label = job["method"], job["label"]
    df = read_windows(store, columns=["subject", "trial", "window", label])
    threshold = label_spec.get("threshold") if job["scheme"] == "binary" else None
    y_all, class_names = encode_labels(
        df[label].to_numpy(dtype=float, na_value=np.nan),
        scheme=job["scheme"],
        threshold=threshold,
    )
    subjects = df.subject.to_numpy().astype(str)
    rows = split_rows(
        y_all, subjects, pd.read_csv(folds_path, sep="\t"), job=job,
        validation_fraction=validation_fraction, fraction_seed=fraction_seed,
        where=folds_path,
    )  # fmt: skip
    n_classes = len(class_names)
    t0 = time.perf_counter()
    if method == "hrv" or method in PROBES:
        dev, resolved, extra = None, None, {}
        if method == "hrv":
            x = pd.read_parquet(hrv_path).to_numpy(dtype=np.float64)
            settings = dict(train)
        else:  # frozen features; standardised on the training rows by fit_predict
            x = np.load(features_path, mmap_mode="r")
            settings = {"classifier": PROBES[method], **train}
        fit = np.concatenate([rows.train, rows.val])  # no epochs to select
        y_pred, proba = fit_predict(
            np.asarray(x[fit], dtype=np.float64), y_all[fit],
            np.asarray(x[rows.test], dtype=np.float64), n_classes=n_classes,
            seed=seed, **settings,
        )  # fmt: skip
    else:
        dev = select_device(device)
        data, encoder = _inputs(method, store, subjects, seed, features_path,
                                encoder_path, encoder_config)  # fmt: skip
        backbone = getattr(encoder, "name", "paper_cnn")  # the head alone: no matter
        resolved = resolve_precision(precision, dev, backbone)
        out = train_classifier(
            np.asarray(data[rows.train]),
            y_all[rows.train],
            np.asarray(data[rows.test]),
            n_classes=n_classes,
            method="ssl_frozen" if method in FEATURE_METHODS else method,
            config=FinetuneConfig.from_dict(train),
            seed=seed,
            device=dev,
            encoder=encoder,
            checkpoint_path=checkpoint_path,
            checkpoint_every_s=FINETUNE_CHECKPOINT_EVERY_S,
            validation=(np.asarray(data[rows.val]), y_all[rows.val]),
            precision=resolved,
        )
        y_pred, proba = out.y_pred, out.proba
        extra = {"best_epoch": out.best_epoch, "stopped_early": out.stopped_early,
                 "epochs_trained": len(out.history)}  # fmt: skip
    seconds = time.perf_counter() - t0
    y_test = y_all[rows.test]
    metrics = classification_metrics(
        y_test, y_pred, n_classes=n_classes, y_train=y_all[rows.train]
    )
    record = {
        **job,
        **metrics,
        **extra,
        "n_train": int(rows.train.size),
        "n_val": int(rows.val.size),
        "n_labelled_train": rows.n_labelled_train,
        "n_classes": n_classes,
        "class_names": class_names,
        "n_train_subjects": int(np.unique(subjects[rows.train]).size),
        "n_test_subjects": int(np.unique(subjects[rows.test]).size),
        "feature_norm": "subject" if method in TRANSDUCTIVE_METHODS else "none",
        "transductive": method in TRANSDUCTIVE_METHODS or job.get("scope") == "all",
        "precision": resolved,
        "seed": seed,
        "seconds": seconds,
        "train": dict(train),
        "label_spec": dict(label_spec),
        "versions": versions(dev or "cpu"),
    }
    pred = df.iloc[rows.test][["subject", "trial", "window"]].reset_index(drop=True)
    pred.insert(0, "row", rows.test)
    pred["y_true"] = y_test
    pred["y_pred"] = y_pred
    for k, name in enumerate(class_names):
        pred[f"p_{name}"] = proba[:, k]
    with atomic_path(predictions_path) as tmp:
        pred.to_parquet(tmp, index=False)
    write_json(metrics_path, record)
    if checkpoint_path is not None:
        remove_checkpoint(checkpoint_path)
    log.info(
        "%s: accuracy %.3f (majority %.3f), balanced %.3f, %d test windows, %.1f s",
        "/".join(str(job[k]) for k in ("dataset", "label", "scheme", "protocol",
                                        "method", "label_fraction", "fold")),
        metrics["accuracy"], metrics["majority_accuracy"],
        metrics["balanced_accuracy"], rows.test.size, seconds,
    )  # fmt: skip
    return record


def _inputs(
    method: str,
    store: Path,
    subjects: np.ndarray,
    seed: int,
    features_path: Path | None,
    encoder_path: Path | None,
    encoder_config: dict[str, Any] | None,
) -> tuple[Any, torch.nn.Module | None]:
    """What the method trains on (features or windows) and the encoder to copy."""
    if method in FEATURE_METHODS:
        data = np.load(features_path, mmap_mode="r")
        if method in TRANSDUCTIVE_METHODS:  # each person's own windows, tests too
            data = normalise_per_subject(data, subjects)
        return data, None
    if method == "ssl_finetune":
        return read_ecg(store), load_encoder(encoder_path)
    # supervised: the same network from its own random initialisation
    generator = torch.Generator().manual_seed(stable_seed(seed, "encoder-init"))
    return read_ecg(store), build_backbone(
        "paper_cnn", encoder_config or {}, generator=generator
    )

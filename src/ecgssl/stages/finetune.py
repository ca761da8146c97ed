"""Fine-tune stage: train and evaluate one classifier on one fold."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ecgssl.data.labels import encode_labels
from ecgssl.data.store import read_ecg, read_windows
from ecgssl.evaluation.metrics import classification_metrics
from ecgssl.learning.backbones import build_backbone
from ecgssl.learning.checkpoint import remove_checkpoint
from ecgssl.learning.device import select_device
from ecgssl.learning.features import normalise_per_subject
from ecgssl.learning.finetune import FinetuneConfig, train_classifier
from ecgssl.learning.modelfile import load_encoder
from ecgssl.stages.provenance import versions, write_json
from ecgssl.util.atomic import atomic_path
from ecgssl.util.seeds import stable_seed

log = logging.getLogger(__name__)

#: A fine-tune job saves its training state after an epoch when this many seconds
#: have passed since the last save: short epochs are cheaper to redo than to save.
FINETUNE_CHECKPOINT_EVERY_S = 30.0


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
    device: str,
    features_path: Path | None = None,
    encoder_path: Path | None = None,
    encoder_config: dict[str, Any] | None = None,
    checkpoint_path: Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate one classifier on one fold; write metrics and predictions.

    ``job`` holds the identity (dataset, label, scheme, protocol, method, fold).
    ``checkpoint_path`` (next to the outputs; Snakemake removes the outputs of a
    failed job but not this file) lets a rerun of an interrupted job resume; it is
    removed once the outputs are written.
    """

    method, label, fold = job["method"], job["label"], int(job["fold"])
    dev = select_device(device)
    feature_norm = train.get("feature_norm", "none")
    cfg = FinetuneConfig.from_dict(
        {k: v for k, v in train.items() if k != "feature_norm"}
    )
    if feature_norm not in ("none", "subject") or (
        feature_norm == "subject" and method != "ssl_frozen"
    ):
        raise ValueError(
            f"feature_norm={feature_norm!r} is not available for method {method!r}"
        )
    df = read_windows(store, columns=["subject", "trial", "window", label])
    threshold = label_spec.get("threshold") if job["scheme"] == "binary" else None
    y_all, class_names = encode_labels(
        df[label].to_numpy(dtype=float, na_value=np.nan),
        scheme=job["scheme"],
        threshold=threshold,
    )
    folds = pd.read_csv(folds_path, sep="\t")
    rows = folds.row.to_numpy()
    if not (y_all[rows] >= 0).all():
        raise ValueError(f"{folds_path}: folds list unlabelled windows; rebuild them")
    test_rows = rows[folds.fold.to_numpy() == fold]
    train_rows = rows[folds.fold.to_numpy() != fold]
    if test_rows.size == 0:
        raise ValueError(f"{folds_path}: fold {fold} is empty")

    if method == "ssl_frozen":
        data = np.load(features_path, mmap_mode="r")
        if feature_norm == "subject":
            data = normalise_per_subject(data, df.subject.to_numpy())
        encoder = None
    else:
        data = read_ecg(store)
        if method == "ssl_finetune":
            encoder = load_encoder(encoder_path)
        else:  # supervised: the same network from its own random initialisation
            generator = torch.Generator().manual_seed(stable_seed(seed, "encoder-init"))
            encoder = build_backbone(
                "paper_cnn", encoder_config or {}, generator=generator
            )
    t0 = time.perf_counter()
    out = train_classifier(
        np.asarray(data[train_rows]),
        y_all[train_rows],
        np.asarray(data[test_rows]),
        n_classes=len(class_names),
        method=method,
        config=cfg,
        seed=seed,
        device=dev,
        encoder=encoder,
        checkpoint_path=checkpoint_path,
        checkpoint_every_s=FINETUNE_CHECKPOINT_EVERY_S,
    )
    seconds = time.perf_counter() - t0
    y_test = y_all[test_rows]
    metrics = classification_metrics(
        y_test, out.y_pred, n_classes=len(class_names), y_train=y_all[train_rows]
    )
    record = {
        **job,
        "fold": fold,
        **metrics,
        "n_train": int(train_rows.size),
        "n_classes": len(class_names),
        "class_names": class_names,
        "n_train_subjects": int(df.subject.iloc[train_rows].nunique()),
        "n_test_subjects": int(df.subject.iloc[test_rows].nunique()),
        "seed": seed,
        "seconds": seconds,
        "train": cfg.to_dict(),
        "feature_norm": feature_norm,
        "label_spec": dict(label_spec),
        "versions": versions(dev),
    }
    pred = df.iloc[test_rows][["subject", "trial", "window"]].reset_index(drop=True)
    pred.insert(0, "row", test_rows)
    pred["y_true"] = y_test
    pred["y_pred"] = out.y_pred
    for k, name in enumerate(class_names):
        pred[f"p_{name}"] = out.proba[:, k]
    with atomic_path(predictions_path) as tmp:
        pred.to_parquet(tmp, index=False)
    write_json(metrics_path, record)
    if checkpoint_path is not None:
        remove_checkpoint(checkpoint_path)
    log.info(
        "%s: accuracy %.3f (majority %.3f), macro-F1 %.3f, %d test windows, %.1f s",
        "/".join(
            str(job[k])
            for k in ("dataset", "label", "scheme", "protocol", "method", "fold")
        ),
        metrics["accuracy"],
        metrics["majority_accuracy"],
        metrics["macro_f1"],
        test_rows.size,
        seconds,
    )
    return record

"""The workflow's learning stages as plain functions (one call per workflow script).

Each stage reads its inputs, calls the library and writes its outputs atomically,
with a JSON sidecar of provenance where the output is a model or a metric.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl import __version__
from ecgssl.atomic import atomic_path, write_text_atomic
from ecgssl.store import ecg_memmap, iter_ecg, read_ecg, read_windows

# torch, scikit-learn, scipy.signal and matplotlib are imported inside the stage that
# needs them: every Snakemake job is a fresh process, and a fold-assignment job should
# not pay for importing torch.

log = logging.getLogger(__name__)

#: A fine-tune job saves its training state after an epoch when this many seconds
#: have passed since the last save: short epochs are cheaper to redo than to save.
FINETUNE_CHECKPOINT_EVERY_S = 30.0


def versions(device: Any) -> dict[str, Any]:
    """Software and hardware provenance of a result."""
    import torch

    return {
        "ecgssl": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
        "device": str(device),
    }


def _json(path: Path, obj: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


#: Signals per forward/backward chunk of a CPU pretext step (of 7 x batch_size): the
#: same gradient as one pass. Measured on a 2-core AVX-512 CPU (torch 2.13) with the
#: long-kernel custom backward on: 32 -> ~120 signals/s, 64 -> ~115, 128 -> ~87,
#: 224 -> ~75, one pass of 896 -> ~72 (each chunk's activations then fit in cache);
#: peak RSS at 50k windows 5.2 GB in one pass, 1.6 GB at 128. GPUs take the batch
#: in one go.
PRETEXT_CPU_MICRO_BATCH = 32


def pretext_stage(
    stores: Sequence[Path],
    *,
    model_path: Path,
    sidecar_path: Path,
    history_path: Path,
    config: dict[str, Any],
    seed: int,
    device: str,
    checkpoint_path: Path | None = None,
) -> None:
    """Pretrain the encoder on the union of the stores' windows."""
    from ecgssl.device import select_device
    from ecgssl.models import save_pretext_model
    from ecgssl.pretext import PretextConfig, pretrain

    cfg = PretextConfig.from_dict(config)
    dev = select_device(device)
    subjects, inputs = [], []
    for store in stores:
        df = read_windows(store, columns=["dataset", "subject"])
        subjects.append((df.dataset + "/" + df.subject).to_numpy())
        inputs.append({"store": str(store), "n_windows": len(df)})
        log.info("pretext input %s: %d windows", store, len(df))
    # All stores streamed into one read-only memory-mapped scratch file next to the
    # model (never a copy of the signals in RAM; pretrain reads batch by batch).
    scratch_dir = Path(model_path).parent
    scratch_dir.mkdir(parents=True, exist_ok=True)
    for stale in scratch_dir.glob(".windows-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=".windows-", dir=scratch_dir) as tmp:
        x = ecg_memmap(stores, Path(tmp) / "ecg.npy")
        result = pretrain(
            x,
            np.concatenate(subjects),
            config=cfg,
            seed=seed,
            device=dev,
            checkpoint_path=checkpoint_path,
            micro_batch=PRETEXT_CPU_MICRO_BATCH if dev.type == "cpu" else None,
        )
        del x  # release the mapping before the directory is removed
    meta = {**result.meta(), "inputs": inputs, "versions": versions(dev)}
    save_pretext_model(model_path, result.encoder, result.heads, meta)
    history = pd.DataFrame(result.history)
    with atomic_path(history_path) as tmp:
        history.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    _json(sidecar_path, meta)
    if checkpoint_path is not None:
        from ecgssl.checkpoint import remove_checkpoint

        remove_checkpoint(checkpoint_path)


def features_stage(
    model_path: Path,
    store: Path,
    out_path: Path,
    *,
    device: str,
    batch_size: int | None = None,
) -> None:
    """Frozen features of every window of a store, row-aligned with it (``.npy``)."""
    from ecgssl.device import select_device
    from ecgssl.features import extract_features
    from ecgssl.models import load_encoder

    dev = select_device(device)
    encoder = load_encoder(model_path, map_location=dev)
    t0 = time.perf_counter()
    # streamed block by block: memory is one block of windows, not the whole store
    parts = [
        extract_features(encoder, block, device=dev, batch_size=batch_size)
        for block in iter_ecg(store, batch_size=4096)
    ]
    feats = (
        np.concatenate(parts)
        if parts
        else np.zeros((0, encoder.n_features), dtype=np.float32)
    )
    seconds = time.perf_counter() - t0
    log.info(
        "%s: %d windows -> %s in %.1f s (%.0f windows/s)",
        store,
        feats.shape[0],
        feats.shape,
        seconds,
        feats.shape[0] / max(seconds, 1e-9),
    )
    with atomic_path(out_path) as tmp, open(tmp, "wb") as f:
        np.save(f, feats)


def folds_stage(
    store: Path, out_path: Path, *, label: str, protocol: str, n_folds: int, seed: int
) -> None:
    """Write the test fold of every labelled window (TSV: row, subject, fold)."""
    from ecgssl.folds import assign_folds

    df = read_windows(store, columns=["subject", label])
    labelled = df[label].notna().to_numpy()
    folds = assign_folds(
        df.subject.to_numpy(), labelled, protocol=protocol, n_folds=n_folds, seed=seed
    )
    out = pd.DataFrame(
        {"row": np.arange(len(df)), "subject": df.subject, "fold": folds}
    )
    out = out[labelled]
    with atomic_path(out_path) as tmp:
        out.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s %s %s: %d labelled windows in %d folds",
        store,
        label,
        protocol,
        len(out),
        n_folds,
    )


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
) -> dict[str, Any]:
    """Train and evaluate one classifier on one fold; write metrics and predictions.

    ``job`` holds the identity (dataset, label, scheme, protocol, method, fold).
    """
    import torch

    from ecgssl.checkpoint import remove_checkpoint
    from ecgssl.device import select_device
    from ecgssl.features import normalise_per_subject
    from ecgssl.finetune import FinetuneConfig, train_classifier
    from ecgssl.labels import encode_labels
    from ecgssl.metrics import classification_metrics
    from ecgssl.models import Encoder, load_encoder

    method, label, fold = job["method"], job["label"], int(job["fold"])
    dev = select_device(device)
    # Next to the outputs; Snakemake removes outputs of a failed job but not this,
    # so a rerun of an interrupted job resumes from it.
    checkpoint_path = Path(metrics_path).with_name("checkpoint.pt")
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
        else:
            generator = torch.Generator().manual_seed(seed)
            encoder = Encoder(**(encoder_config or {}), generator=generator)
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
    _json(metrics_path, record)
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


def aggregate_stage(
    metrics_paths: Sequence[Path],
    history_path: Path,
    *,
    summary_path: Path,
    folds_path: Path,
    comparison_path: Path,
    pretext_plot: Path,
    accuracy_plot: Path,
    confusion_plot: Path,
    config: dict[str, Any] | None = None,
    config_path: Path | None = None,
) -> pd.DataFrame:
    """Result tables (per fold and summarised), the paper comparison and the plots.

    With ``config_path``, the resolved workflow configuration is written there too
    (for the report: every result traceable to its config).
    """
    from ecgssl.aggregate import (
        GROUP_KEYS,
        load_metrics,
        paper_comparison,
        plot_accuracy_by_method,
        plot_confusion_matrices,
        plot_pretext_history,
        summarize,
    )
    from ecgssl.metrics import METRIC_KEYS

    df = load_metrics(metrics_paths)
    summary = summarize(df)
    first = [*GROUP_KEYS, "fold"]
    metrics = [k for k in METRIC_KEYS if k not in ("confusion_matrix", "n_test")]
    last = ["n_train", "n_test", "n_classes", "n_train_subjects", "n_test_subjects",
            "seed", "seconds", "source"]  # fmt: skip
    per_fold = df[[c for c in first + metrics + last if c in df.columns]]
    for table, path in ((summary, summary_path), (per_fold, folds_path)):
        with atomic_path(path) as tmp:
            table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    write_text_atomic(comparison_path, paper_comparison(summary))
    scheme = "multiclass" if (df.scheme == "multiclass").any() else df.scheme.iloc[0]
    for plot, path in (
        (lambda p: plot_pretext_history(history_path, p), pretext_plot),
        (lambda p: plot_accuracy_by_method(summary, p), accuracy_plot),
        (lambda p: plot_confusion_matrices(df, p, scheme=scheme), confusion_plot),
    ):
        with atomic_path(path) as tmp:  # the temporary name keeps the .png suffix
            plot(tmp)
    if config_path is not None:
        _json(config_path, dict(config or {}))
    log.info("aggregated %d fold results into %d rows", len(df), len(summary))
    return summary

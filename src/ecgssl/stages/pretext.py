"""Pretext stage: pretrain one encoder unit on the windows its scope allows."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl.config.plan import FOLD_SCOPES
from ecgssl.data.store import ecg_memmap, read_windows
from ecgssl.evaluation.folds import subsample_per_subject
from ecgssl.learning.checkpoint import remove_checkpoint
from ecgssl.learning.device import resolve_precision, select_device
from ecgssl.learning.modelfile import save_pretext_model
from ecgssl.learning.pretrain import PretextConfig, pretrain
from ecgssl.learning.tuning import pretext_micro_batch
from ecgssl.stages.provenance import versions, write_json
from ecgssl.util.atomic import atomic_path
from ecgssl.util.errors import DataFormatError
from ecgssl.util.seeds import stable_seed

log = logging.getLogger(__name__)


def training_rows(
    stores: Sequence[Path],
    folds: Sequence[Path],
    unit: dict[str, Any],
    *,
    fraction: float = 1.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """Per store, the rows an encoder unit may be pretrained on.

    A fold unit (``unit["fold"]`` = k) keeps the windows outside test fold k of each
    of its store's folds tables: ``folds`` holds the same number of tables per store,
    store by store (one under ``train_folds``: ``folds[i]`` belongs to
    ``stores[i]``; one per protocol under ``joint_folds``, so a window in test fold
    k of any protocol is left out). The other scopes keep every row (their stores
    are already the ones they may see).
    With ``fraction`` < 1 each subject of each store keeps that share of its allowed
    rows (at least one), drawn with
    :func:`ecgssl.evaluation.folds.subsample_per_subject` from a seed derived from
    ``seed`` and the store's file name (the pretraining-data fraction).

    Raises
    ------
    ecgssl.util.errors.DataFormatError
        If a folds table does not cover its store row for row.
    """
    subjects = [
        read_windows(store, columns=["subject"]).subject.to_numpy().astype(str)
        for store in stores
    ]
    allowed = _scope_rows(stores, folds, unit, [s.size for s in subjects])
    if fraction == 1.0:
        return allowed
    return [
        subsample_per_subject(rows, own[rows], fraction, stable_seed(seed, store.name))
        for store, rows, own in zip(map(Path, stores), allowed, subjects, strict=True)
    ]


def _scope_rows(
    stores: Sequence[Path],
    folds: Sequence[Path],
    unit: dict[str, Any],
    n_rows: Sequence[int],
) -> list[np.ndarray]:
    """Per store, the rows the unit's scope allows."""
    if unit["scope"] not in FOLD_SCOPES:
        return [np.arange(n) for n in n_rows]
    if not folds or len(folds) % len(stores):
        raise ValueError(
            f"a fold unit needs the same number of folds tables for each of the "
            f"{len(stores)} stores, got {len(folds)}"
        )
    per_store = len(folds) // len(stores)
    out = []
    for i, (store, n) in enumerate(zip(stores, n_rows, strict=True)):
        keep = np.ones(n, dtype=bool)
        for table in folds[i * per_store : (i + 1) * per_store]:
            df = pd.read_csv(table, sep="\t")
            if len(df) != n or not (df.row.to_numpy() == np.arange(n)).all():
                raise DataFormatError(
                    table,
                    "row",
                    f"folds must list every row of {store} ({n}); rebuild them",
                )
            keep &= df.fold.to_numpy() != unit["fold"]
        out.append(np.flatnonzero(keep))
    return out


def pretext_stage(
    stores: Sequence[Path],
    *,
    folds: Sequence[Path] = (),
    unit: dict[str, Any],
    model_path: Path,
    sidecar_path: Path,
    history_path: Path,
    windows_path: Path,
    config: dict[str, Any],
    seed: int,
    device: str,
    precision: str = "auto",
    checkpoint_path: Path | None = None,
    pretrain_fraction: float = 1.0,
    fraction_seed: int = 0,
) -> None:
    """Pretrain one encoder unit on the windows its scope allows.

    ``windows_path`` gets the provenance of every window the encoder saw (dataset,
    row, subject, and whether it was a training or a validation window).
    ``pretrain_fraction`` < 1 trains on that share of them, drawn per subject with
    ``fraction_seed`` (:func:`training_rows`).
    """
    cfg = PretextConfig.from_dict(config)
    dev = select_device(device)
    resolved = resolve_precision(precision, dev, cfg.backbone)
    # CPU: forward/backward in chunks of the size a cached probe found fastest here
    # (the same gradient as one pass); GPUs take the batch in one go
    micro = pretext_micro_batch(resolved) if dev.type == "cpu" else None
    rows = training_rows(
        stores, folds, unit, fraction=pretrain_fraction, seed=fraction_seed
    )
    subjects, seen = [], []
    for store, keep in zip(stores, rows, strict=True):
        df = read_windows(store, columns=["dataset", "subject"]).iloc[keep]
        subjects.append((df.dataset + "/" + df.subject).to_numpy())
        seen.append(pd.DataFrame({"dataset": df.dataset, "row": keep,
                                  "subject": df.subject}))  # fmt: skip
        log.info("pretext input %s: %d of its windows", store, len(keep))
    # All stores streamed into one read-only memory-mapped scratch file next to the
    # model (never a copy of the signals in RAM; pretrain reads batch by batch).
    scratch_dir = Path(model_path).parent
    scratch_dir.mkdir(parents=True, exist_ok=True)
    for stale in scratch_dir.glob(".windows-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=".windows-", dir=scratch_dir) as tmp:
        x = ecg_memmap(stores, Path(tmp) / "ecg.npy", rows=rows)
        result = pretrain(
            x,
            np.concatenate(subjects),
            config=cfg,
            seed=seed,
            device=dev,
            checkpoint_path=checkpoint_path,
            micro_batch=micro,
            precision=resolved,
        )
        del x  # release the mapping before the directory is removed
    table = pd.concat(seen, ignore_index=True)
    val = set(result.val_subjects)
    table["part"] = np.where(
        (table.dataset + "/" + table.subject).isin(val), "validation", "training"
    )
    inputs = [
        {"store": str(store), "n_windows": int(len(keep))}
        for store, keep in zip(stores, rows, strict=True)
    ]
    meta = {
        **result.meta(),
        "micro_batch": micro,
        "unit": unit,
        "inputs": inputs,
        "pretrain_fraction": float(pretrain_fraction),
        "versions": versions(dev),
    }
    save_pretext_model(model_path, result.encoder, result.heads, meta)
    with atomic_path(history_path) as tmp:
        pd.DataFrame(result.history).to_csv(
            tmp, sep="\t", index=False, float_format="%.6g"
        )
    with atomic_path(windows_path) as tmp:
        table.to_parquet(tmp, index=False)
    write_json(sidecar_path, meta)
    if checkpoint_path is not None:
        remove_checkpoint(checkpoint_path)

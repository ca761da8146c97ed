"""Folds stage: the test fold of every labelled window of a store."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ecgssl.data.store import check_label_present, read_windows
from ecgssl.evaluation.folds import assign_folds
from ecgssl.util.atomic import atomic_path

log = logging.getLogger(__name__)


def folds_stage(
    store: Path, out_path: Path, *, label: str, protocol: str, n_folds: int, seed: int
) -> None:
    """Write the test fold of every labelled window (TSV: row, subject, fold)."""
    check_label_present(store, label)
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

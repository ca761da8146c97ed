"""Folds stage: the test fold of every window of a store, for one protocol."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ecgssl.data.store import read_windows
from ecgssl.evaluation.folds import assign_folds
from ecgssl.util.atomic import atomic_path

log = logging.getLogger(__name__)


def folds_stage(
    store: Path, out_path: Path, *, protocol: str, n_folds: int, seed: int
) -> None:
    """Write the test fold of every window of a store (TSV: row, subject, fold).

    The folds do not depend on the labels: the same folds serve every label and
    method of the dataset and, under pretext scope ``train_folds``, decide which
    windows each fold's encoder may see.
    """
    df = read_windows(store, columns=["subject"])
    everything = np.ones(len(df), dtype=bool)
    folds = assign_folds(
        df.subject.to_numpy(), everything, protocol=protocol, n_folds=n_folds, seed=seed
    )
    out = pd.DataFrame(
        {"row": np.arange(len(df)), "subject": df.subject, "fold": folds}
    )
    with atomic_path(out_path) as tmp:
        out.to_csv(tmp, sep="\t", index=False)
    log.info("%s %s: %d windows in %d folds", store, protocol, len(out), n_folds)

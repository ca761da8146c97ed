"""Clustering stage: k-means on each subject-wise test fold's frozen features."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl.data.labels import encode_labels
from ecgssl.data.store import read_windows
from ecgssl.evaluation.clustering import cluster_scores
from ecgssl.util.atomic import atomic_path
from ecgssl.util.errors import DataFormatError
from ecgssl.util.seeds import stable_seed

log = logging.getLogger(__name__)

#: Columns of a clustering file, in order.
COLUMNS = (
    "pretext", "dataset", "label", "scheme", "protocol", "fold", "unit",
    "n_windows", "n_clusters", "ari", "nmi",
)  # fmt: skip


def clustering_stage(
    *,
    store: Path,
    folds_path: Path,
    features_paths: Sequence[Path],
    units: Sequence[str],
    labels: Mapping[str, Mapping[str, Any]],
    pretext: str,
    out_path: Path,
    seed: int,
    n_init: int = 10,
) -> pd.DataFrame:
    """Score k-means clusters of every ``subject_kfold`` test fold against each label.

    Fold ``k``'s labelled windows are featured by ``features_paths[k]``, the encoder
    unit ``units[k]`` that scores fold ``k`` (one that never saw those windows under
    scope ``train_folds``), and clustered once per label and scheme in ``labels``
    (the dataset's label block: ``{label: {"schemes": [...], "threshold": ...}}``).
    """
    if len(features_paths) != len(units):
        raise ValueError("one features file per fold unit")
    folds = pd.read_csv(folds_path, sep="\t")
    df = read_windows(store, columns=["dataset", *labels])
    if len(folds) != len(df) or not (folds.row.to_numpy() == np.arange(len(df))).all():
        raise DataFormatError(folds_path, "row", "folds must list every window")
    dataset = str(df.dataset.iloc[0]) if len(df) else Path(store).stem
    rows = []
    for k, (path, unit) in enumerate(zip(features_paths, units, strict=True)):
        features = np.load(path, mmap_mode="r")
        if features.shape[0] != len(df):
            raise DataFormatError(path, "rows", f"{features.shape[0]} != {len(df)}")
        in_fold = folds.fold.to_numpy() == k
        for label, spec in labels.items():
            for scheme in spec.get("schemes", ["multiclass"]):
                threshold = spec.get("threshold") if scheme == "binary" else None
                y, _ = encode_labels(
                    df[label].to_numpy(dtype=float, na_value=np.nan),
                    scheme=scheme, threshold=threshold,
                )  # fmt: skip
                test = np.flatnonzero(in_fold & (y >= 0))
                scores = cluster_scores(
                    features[test], y[test], n_init=n_init,
                    seed=stable_seed(seed, label, scheme, k),
                )  # fmt: skip
                rows.append({"pretext": pretext, "dataset": dataset, "label": label,
                             "scheme": scheme, "protocol": "subject_kfold",
                             "fold": k, "unit": unit, **scores})  # fmt: skip
                log.info("%s %s %s/%s fold %d: ARI %.3f, NMI %.3f", pretext, dataset,
                         label, scheme, k, scores["ari"], scores["nmi"])  # fmt: skip
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return table


def clustering_table_stage(paths: Sequence[Path], out_path: Path) -> pd.DataFrame:
    """Every configuration's and dataset's clustering, with the mean over folds.

    Writes the fold rows and, per pretext x dataset x label x scheme, a row with
    ``fold`` = ``mean`` (ARI and NMI averaged over the folds, ``n_windows``
    summed).
    """
    folds = pd.concat(
        [pd.read_csv(p, sep="\t") for p in paths], ignore_index=True
    ) if paths else pd.DataFrame(columns=list(COLUMNS))  # fmt: skip
    keys = ["pretext", "dataset", "label", "scheme", "protocol"]
    means = (
        folds.groupby(keys, sort=True)
        .agg(
            n_windows=("n_windows", "sum"),
            n_clusters=("n_clusters", "max"),
            ari=("ari", "mean"),
            nmi=("nmi", "mean"),
            ari_std=("ari", "std"),
            nmi_std=("nmi", "std"),
        )  # fmt: skip
        .reset_index()
        .assign(fold="mean", unit="")
    )
    table = pd.concat([folds.astype({"fold": str}), means], ignore_index=True)
    table = table[[*COLUMNS, "ari_std", "nmi_std"]]
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return table

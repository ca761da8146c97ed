"""Fold metrics -> tidy result tables (one row per fold, one per experiment)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ecgssl.evaluation.metrics import METRIC_KEYS
from ecgssl.util.errors import DataFormatError

__all__ = [
    "GROUP_KEYS",
    "METHOD_ORDER",
    "METRIC_FILE_KEYS",
    "PROTOCOL_ORDER",
    "SUMMARY_METRICS",
    "load_metrics",
    "summarize",
]

#: Display order of the methods and protocols in tables and figures.
METHOD_ORDER = ("supervised", "ssl_frozen", "ssl_finetune")
PROTOCOL_ORDER = ("window_kfold", "subject_kfold")

#: Columns that identify one cross-validated experiment.
GROUP_KEYS = ("dataset", "label", "scheme", "protocol", "method")

#: Metrics averaged over folds by :func:`summarize`.
SUMMARY_METRICS = (
    "accuracy",
    "macro_f1",
    "f1_macro_pr",
    "kappa",
    "majority_accuracy",
)

#: Keys every fold's metrics JSON must have.
METRIC_FILE_KEYS = (
    *GROUP_KEYS,
    "fold",
    *METRIC_KEYS,
    "n_train",
    "n_classes",
    "class_names",
    "seed",
)

_NUMERIC_KEYS = (
    "fold",
    "accuracy",
    "macro_f1",
    "f1_macro_pr",
    "kappa",
    "majority_accuracy",
    "test_majority_share",
    "n_train",
    "n_test",
    "n_classes",
    "seed",
)

# Display order and names of the (protocol, method) combinations.


def _read_metrics_file(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFormatError(path, "<file>", f"cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, "<json>", f"not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise DataFormatError(path, "<json>", "top level must be an object")
    for key in METRIC_FILE_KEYS:
        if key not in record:
            raise DataFormatError(path, key, "missing from the metrics file")
    for key in _NUMERIC_KEYS:
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataFormatError(path, key, f"must be a number, got {value!r}")
    n = record["n_classes"]
    cm = record["confusion_matrix"]
    if (
        not isinstance(cm, list)
        or len(cm) != n
        or any(not isinstance(row, list) or len(row) != n for row in cm)
    ):
        raise DataFormatError(
            path, "confusion_matrix", f"must be an n_classes x n_classes list ({n})"
        )
    names = record["class_names"]
    if not isinstance(names, list) or len(names) != n:
        raise DataFormatError(path, "class_names", f"must be a list of {n} names")
    record["source"] = str(path)
    return record


def load_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read the per-fold metrics JSON files into one table.

    Parameters
    ----------
    paths : iterable of path
        One JSON file per fold job, each with the keys in :data:`METRIC_FILE_KEYS`
        (extra keys are kept as columns).

    Returns
    -------
    pandas.DataFrame
        One row per file, plus a ``source`` column with the path; sorted by
        dataset, label, scheme, protocol, method and fold.
    """
    if isinstance(paths, str | Path):
        raise TypeError("paths must be an iterable of paths, not a single path")
    records = [_read_metrics_file(Path(p)) for p in paths]
    if not records:
        raise ValueError("paths must name at least one metrics file")
    df = pd.DataFrame.from_records(records)
    key = [*GROUP_KEYS, "fold"]
    dup = df.duplicated(subset=key, keep=False)
    if dup.any():
        first = df.loc[dup, "source"].tolist()
        raise ValueError(
            f"the same dataset/label/scheme/protocol/method/fold in {first}"
        )
    return df.sort_values(key, kind="stable").reset_index(drop=True)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds of each experiment.

    Parameters
    ----------
    df : pandas.DataFrame
        Per-fold table from :func:`load_metrics`.

    Returns
    -------
    pandas.DataFrame
        One row per dataset x label x scheme x protocol x method, with
        ``<metric>_mean`` and ``<metric>_std`` (sample std, ddof=1; NaN for a single
        fold) for each metric in :data:`SUMMARY_METRICS`, ``n_folds``, ``n_classes``
        and ``n_test`` (test windows summed over folds).
    """
    missing = [c for c in (*GROUP_KEYS, "fold", *SUMMARY_METRICS) if c not in df]
    if missing:
        raise ValueError(f"df lacks column(s) {missing}")
    grouped = df.groupby(list(GROUP_KEYS), sort=True)
    parts = []
    for metric in SUMMARY_METRICS:
        stats = grouped[metric].agg(["mean", "std"])  # pandas std: ddof=1
        stats.columns = [f"{metric}_mean", f"{metric}_std"]
        parts.append(stats)
    parts.append(grouped["fold"].nunique().rename("n_folds"))
    if "n_classes" in df:
        parts.append(grouped["n_classes"].max().rename("n_classes"))
    if "n_test" in df:
        parts.append(grouped["n_test"].sum().rename("n_test"))
    return pd.concat(parts, axis=1).reset_index()

"""Fold metrics and predictions -> tidy result tables with intervals.

Every column that changes what a number means is a key of the tables: the dataset,
label, scheme, protocol, method, pretext configuration and its scope, the feature
normalisation, the label fraction, and whether the setting is transductive (it used
the test people's unlabelled ECG: per-subject feature normalisation, or an encoder
pretrained on every window). Folds and repeats are pooled within a key.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl.evaluation.metrics import METRIC_KEYS
from ecgssl.evaluation.uncertainty import Interval, interval, paired_interval
from ecgssl.util.errors import DataFormatError
from ecgssl.util.seeds import stable_seed

__all__ = [
    "GROUP_KEYS",
    "METHOD_ORDER",
    "METRIC_FILE_KEYS",
    "PROTOCOL_ORDER",
    "REFERENCES",
    "SUMMARY_METRICS",
    "comparisons",
    "load_metrics",
    "load_predictions",
    "subject_table",
    "summarize",
]

#: Display order of the methods and protocols in tables and figures.
METHOD_ORDER = (
    "supervised", "hrv", "ssl_frozen", "ssl_finetune", "linear_probe", "knn_probe",
    "ssl_frozen_subject_norm",
)  # fmt: skip
PROTOCOL_ORDER = ("window_kfold", "subject_kfold")

#: Columns that identify one cross-validated experiment (folds and repeats pooled).
GROUP_KEYS = (
    "dataset", "label", "scheme", "protocol", "method", "pretext", "scope",
    "feature_norm", "label_fraction", "transductive",
)  # fmt: skip

#: Metrics averaged over folds and repeats by :func:`summarize`.
SUMMARY_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "f1_macro_pr",
    "kappa",
    "majority_accuracy",
)

#: The methods every other method is compared with, pairwise (:func:`comparisons`).
REFERENCES = ("supervised", "hrv")

#: Keys every fold's metrics JSON must have.
METRIC_FILE_KEYS = (
    *GROUP_KEYS,
    "repeat",
    "fold",
    *METRIC_KEYS,
    "n_train",
    "n_classes",
    "class_names",
    "seed",
)

_NUMERIC_KEYS = (
    "label_fraction", "repeat", "fold", "accuracy", "balanced_accuracy", "macro_f1",
    "f1_macro_pr", "kappa", "majority_accuracy", "test_majority_share", "n_train",
    "n_test", "n_classes", "seed",
)  # fmt: skip
_FOLD_KEYS = [*GROUP_KEYS, "repeat", "fold"]


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
        One row per file, plus a ``source`` column with the path; sorted by the
        group keys, repeat and fold. ``pretext`` and ``scope`` are ``"none"`` for
        methods without an encoder.
    """
    if isinstance(paths, str | Path):
        raise TypeError("paths must be an iterable of paths, not a single path")
    records = [_read_metrics_file(Path(p)) for p in paths]
    if not records:
        raise ValueError("paths must name at least one metrics file")
    df = pd.DataFrame.from_records(records)
    df["scope"] = df["scope"].fillna("none")
    dup = df.duplicated(subset=_FOLD_KEYS, keep=False)
    if dup.any():
        raise ValueError(
            f"the same experiment and fold in {df.loc[dup, 'source'].tolist()}"
        )
    return df.sort_values(_FOLD_KEYS, kind="stable").reset_index(drop=True)


def load_predictions(metrics: pd.DataFrame) -> pd.DataFrame:
    """The test predictions of every fold job, next to its metrics file.

    Returns
    -------
    pandas.DataFrame
        Columns: the group keys, ``repeat``, ``fold``, ``n_classes``, ``subject``,
        ``y_true``, ``y_pred`` (one row per test window).
    """
    parts = []
    for _, job in metrics.iterrows():
        path = Path(job["source"]).with_name("predictions.parquet")
        try:
            pred = pd.read_parquet(path, columns=["subject", "y_true", "y_pred"])
        except (OSError, ValueError) as exc:
            raise DataFormatError(path, "<file>", f"cannot read: {exc}") from exc
        for key in (*_FOLD_KEYS, "n_classes"):
            pred[key] = job[key]
        parts.append(pred)
    return pd.concat(parts, ignore_index=True)


def _confusion(frame: pd.DataFrame, n_classes: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(frame.y_true, frame.y_pred, labels=range(n_classes))


def _units(group: pd.DataFrame, protocol: str) -> tuple[list[Any], np.ndarray]:
    """Units of replication of one experiment and their confusion matrices."""
    n = int(group.n_classes.iloc[0])
    by = "subject" if protocol == "subject_kfold" else ["repeat", "fold"]
    keys, cms = [], []
    for key, part in group.groupby(by, sort=True):
        keys.append(key)
        cms.append(_confusion(part, n))
    return keys, np.stack(cms)


def _row_intervals(
    group: pd.DataFrame,
    protocol: str,
    *,
    confidence: float,
    n_bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    _, cms = _units(group, protocol)
    pooled = protocol == "subject_kfold"
    out: dict[str, Any] = {"ci_over": "subjects" if pooled else "folds"}
    for metric in ("accuracy", "balanced_accuracy"):
        iv = interval(cms, metric=metric, pooled=pooled, confidence=confidence,
                      n_resamples=n_bootstrap, seed=seed)  # fmt: skip
        out[f"{metric}_ci_low"], out[f"{metric}_ci_high"] = iv.low, iv.high
    out["n_units"] = cms.shape[0]
    return out


def summarize(
    df: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean, standard deviation and bootstrap interval of each experiment.

    Parameters
    ----------
    df : pandas.DataFrame
        Per-fold table from :func:`load_metrics`.
    predictions : pandas.DataFrame or None
        From :func:`load_predictions`; None leaves out the intervals.
    confidence, n_bootstrap : float, int
        Level and resamples of the intervals (see
        :mod:`ecgssl.evaluation.uncertainty`: over test subjects under
        ``subject_kfold``, over folds and repeats otherwise).
    seed : int
        Base seed of the resampling (each experiment derives its own).

    Returns
    -------
    pandas.DataFrame
        One row per experiment: the group keys, ``<metric>_mean`` and
        ``<metric>_std`` (over folds and repeats; sample std) for each metric in
        :data:`SUMMARY_METRICS`, ``n_folds``, ``n_repeats``, ``n_classes``,
        ``n_test`` (test windows over folds and repeats) and, with predictions,
        ``accuracy_ci_low/high``, ``balanced_accuracy_ci_low/high``, ``ci_over``
        and ``n_units``.
    """
    missing = [c for c in (*_FOLD_KEYS, *SUMMARY_METRICS) if c not in df]
    if missing:
        raise ValueError(f"df lacks column(s) {missing}")
    keys = list(GROUP_KEYS)
    grouped = df.groupby(keys, sort=True, dropna=False)
    parts = []
    for metric in SUMMARY_METRICS:
        stats = grouped[metric].agg(["mean", "std"])
        stats.columns = [f"{metric}_mean", f"{metric}_std"]
        parts.append(stats)
    parts.append(grouped["fold"].nunique().rename("n_folds"))
    parts.append(grouped["repeat"].nunique().rename("n_repeats"))
    parts.append(grouped["n_classes"].max().rename("n_classes"))
    if "n_test" in df:
        parts.append(grouped["n_test"].sum().rename("n_test"))
    summary = pd.concat(parts, axis=1).reset_index()
    if predictions is None:
        return summary
    extra = []
    for key, group in predictions.groupby(keys, sort=True, dropna=False):
        identity = dict(zip(keys, key, strict=True))
        row_seed = stable_seed(seed, "interval", *map(str, key))
        extra.append(identity | _row_intervals(
            group, identity["protocol"], confidence=confidence,
            n_bootstrap=n_bootstrap, seed=row_seed,
        ))  # fmt: skip
    return summary.merge(pd.DataFrame(extra), on=keys, how="left")


def subject_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per test subject of each experiment (folds and repeats pooled).

    Returns
    -------
    pandas.DataFrame
        The group keys, ``subject``, ``n_windows``, ``accuracy`` and
        ``balanced_accuracy`` (scikit-learn, on that person's test windows).
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    rows = []
    keys = [*GROUP_KEYS, "subject"]
    for key, part in predictions.groupby(keys, sort=True, dropna=False):
        with warnings.catch_warnings():  # a person with one class: still defined
            warnings.simplefilter("ignore", UserWarning)
            bacc = balanced_accuracy_score(part.y_true, part.y_pred)
        rows.append(dict(zip(keys, key, strict=True)) | {
            "n_windows": len(part),
            "accuracy": accuracy_score(part.y_true, part.y_pred),
            "balanced_accuracy": bacc,
        })  # fmt: skip
    return pd.DataFrame(rows)


def comparisons(
    predictions: pd.DataFrame,
    *,
    references: Sequence[str] = REFERENCES,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired comparison of every method with each reference on the same folds.

    For each dataset, label, scheme, protocol and label fraction, and each method
    and reference run there, the difference in accuracy (method minus reference)
    with a paired bootstrap interval: the same people (``subject_kfold``) or folds
    and repeats (``window_kfold``) are resampled for both.

    Returns
    -------
    pandas.DataFrame
        ``dataset, label, scheme, protocol, label_fraction, method, pretext, scope,
        feature_norm, transductive, reference, metric, difference, ci_low, ci_high,
        n_units, verdict`` where the verdict is ``better``/``worse`` when the
        interval excludes 0 and ``no clear difference`` otherwise.
    """
    task = ["dataset", "label", "scheme", "protocol", "label_fraction"]
    variant = ["method", "pretext", "scope", "feature_norm", "transductive"]
    rows = []
    for key, part in predictions.groupby(task, sort=True, dropna=False):
        identity = dict(zip(task, key, strict=True))
        runs = {v: g for v, g in part.groupby(variant, sort=True, dropna=False)}
        for ref_name in references:
            ref_runs = [v for v in runs if v[0] == ref_name]
            for ref in ref_runs:
                ref_keys, ref_cms = _units(runs[ref], identity["protocol"])
                for var, group in runs.items():
                    if var == ref:
                        continue
                    keys, cms = _units(group, identity["protocol"])
                    if keys != ref_keys:  # not the same folds or people: not paired
                        continue
                    for metric in ("accuracy", "balanced_accuracy"):
                        iv = paired_interval(
                            cms, ref_cms, metric=metric,
                            pooled=identity["protocol"] == "subject_kfold",
                            confidence=confidence, n_resamples=n_bootstrap,
                            seed=stable_seed(seed, "paired", *map(str, (*key, *var))),
                        )  # fmt: skip
                        rows.append(identity | dict(zip(variant, var, strict=True))
                                    | {"reference": ref_name, "metric": metric}
                                    | _verdict(iv))  # fmt: skip
    columns = [*task, *variant, "reference", "metric", "difference", "ci_low",
               "ci_high", "n_units", "verdict"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _verdict(iv: Interval) -> dict[str, Any]:
    if iv.low > 0:
        verdict = "better"
    elif iv.high < 0:
        verdict = "worse"
    else:
        verdict = "no clear difference"
    return {"difference": iv.estimate, "ci_low": iv.low, "ci_high": iv.high,
            "n_units": iv.n_units, "verdict": verdict}  # fmt: skip

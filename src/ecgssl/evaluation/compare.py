"""Pretext configurations side by side: the comparison table.

One row per dataset x label x scheme x pretext configuration x evaluation method,
under the subject-wise protocol at label fraction 1, with the bootstrap intervals of
:func:`ecgssl.evaluation.tables.summarize` (over test subjects). The configurations'
pretext method, backbone and pretraining-data fraction are columns, and so is every
setting in which the configurations differ (a swept key among them), so that each
row says what produced it. Methods without an encoder (``supervised``, ``hrv``) are
rows too, with pretext ``none``: the references.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ecgssl.evaluation.tables import METHOD_ORDER

__all__ = [
    "COMPARE_PROTOCOL",
    "DEFAULT_BACKBONE",
    "DEFAULT_PRETEXT_METHOD",
    "compare_markdown",
    "compare_table",
    "pretext_columns",
    "setting_columns",
]

#: The protocol of the comparison (no person in both training and test).
COMPARE_PROTOCOL = "subject_kfold"
#: What a configuration without a ``method`` / ``backbone`` key runs.
DEFAULT_PRETEXT_METHOD = "transformation_recognition"
DEFAULT_BACKBONE = "paper_cnn"
#: Settings that never change what a number means (where it ran, how it is named).
_NOT_SETTINGS = ("name", "device", "precision", "swept", "real_ecg_check")


def _flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"transforms.scale": 1.1, ...}`` (lists as JSON text)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if not prefix and key in _NOT_SETTINGS:
            continue
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, (list, tuple)):
            out[f"{prefix}{key}"] = json.dumps(list(value))
        else:
            out[f"{prefix}{key}"] = value
    return out


def setting_columns(pretexts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Settings (dotted key paths) whose values differ between configurations."""
    flat = [_flat(s) for s in pretexts.values()]
    keys = sorted({k for f in flat for k in f})
    return [
        k for k in keys
        if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1
    ]  # fmt: skip


def pretext_columns(pretexts: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per configuration: ``pretext``, ``pretext_method``, ``backbone``,
    ``pretrain_fraction`` and the settings of :func:`setting_columns`."""
    varying = [
        k for k in setting_columns(pretexts)
        if k not in ("method", "backbone", "pretrain_fraction", "scope")
    ]  # fmt: skip
    rows = []
    for name, settings in pretexts.items():
        flat = _flat(settings)
        rows.append({
            "pretext": name,
            "pretext_method": settings.get("method", DEFAULT_PRETEXT_METHOD),
            "backbone": settings.get("backbone", DEFAULT_BACKBONE),
            "pretrain_fraction": float(settings.get("pretrain_fraction", 1.0)),
            **{k: flat.get(k) for k in varying},
        })  # fmt: skip
    columns = ["pretext", "pretext_method", "backbone", "pretrain_fraction", *varying]
    return pd.DataFrame(rows, columns=columns)


def compare_table(
    summary: pd.DataFrame, pretexts: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """The comparison table (see the module docstring).

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`ecgssl.evaluation.tables.summarize` (with intervals).
    pretexts : mapping
        Name -> full settings of every pretext configuration
        (:attr:`ecgssl.config.plan.Plan.pretexts`).

    Returns
    -------
    pandas.DataFrame
        Sorted by dataset, label, scheme, then method display order and pretext.
    """
    info = pretext_columns(pretexts)
    rows = summary[
        (summary["protocol"] == COMPARE_PROTOCOL) & (summary["label_fraction"] == 1.0)
    ]
    table = rows.merge(info, on="pretext", how="left")
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    table = table.assign(_m=table["method"].map(order).fillna(len(order)))
    table = table.sort_values(["dataset", "label", "scheme", "_m", "pretext"])
    metrics = [
        f"{m}_{s}" for m in ("accuracy", "balanced_accuracy")
        for s in ("mean", "ci_low", "ci_high")
    ]  # fmt: skip
    columns = [
        "dataset", "label", "scheme", "protocol", *info.columns, "scope", "method",
        "feature_norm", "transductive", *metrics, "accuracy_std", "macro_f1_mean",
        "majority_accuracy_mean", "n_units", "n_folds",
    ]  # fmt: skip
    return table[[c for c in columns if c in table]].reset_index(drop=True)


def _num(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(number) else f"{number:.3f}"


def _with_interval(row: pd.Series, metric: str) -> str:
    text = _num(row.get(f"{metric}_mean"))
    low, high = _num(row.get(f"{metric}_ci_low")), _num(row.get(f"{metric}_ci_high"))
    return text if "—" in (low, high) else f"{text} [{low}, {high}]"


def compare_markdown(table: pd.DataFrame, settings: list[str] | None = None) -> str:
    """The comparison as Markdown: one table per dataset x label x scheme.

    ``settings``: extra configuration columns to show (default: every column of
    ``table`` between ``pretrain_fraction`` and ``scope``).
    """
    if settings is None:
        cols = list(table.columns)
        start = (
            cols.index("pretrain_fraction") + 1 if "pretrain_fraction" in cols else 0
        )
        end = cols.index("scope") if "scope" in cols else start
        settings = cols[start:end]
    lines = [
        "# Pretext configurations side by side",
        "",
        f"Protocol `{COMPARE_PROTOCOL}` (no person in both training and test), all "
        "labelled training windows; accuracy and balanced accuracy with their "
        "bootstrap intervals over test subjects. Pretext `none`: methods without an "
        "encoder (the references).",
    ]
    if table.empty:
        return "\n".join([*lines, "", f"No `{COMPARE_PROTOCOL}` result.", ""])
    header = ["pretext", "pretext method", "backbone", "fraction", *settings,
              "scope", "evaluation", "accuracy [95% CI]", "balanced acc. [95% CI]",
              "majority"]  # fmt: skip
    for (dataset, label, scheme), part in table.groupby(
        ["dataset", "label", "scheme"], sort=False
    ):
        lines += ["", f"## {dataset} / {label} ({scheme})", "",
                  "| " + " | ".join(header) + " |",
                  "|" + " --- |" * len(header)]  # fmt: skip
        for _, row in part.iterrows():
            encoder = row["pretext"] != "none"
            cells = [
                str(row["pretext"]),
                str(row.get("pretext_method")) if encoder else "—",
                str(row.get("backbone")) if encoder else "—",
                f"{row.get('pretrain_fraction'):g}" if encoder else "—",
                *[str(row.get(s)) if encoder else "—" for s in settings],
                str(row.get("scope")) if encoder else "—",
                str(row["method"]) + (" (transductive)" if row["transductive"] else ""),
                _with_interval(row, "accuracy"),
                _with_interval(row, "balanced_accuracy"),
                _num(row.get("majority_accuracy_mean")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

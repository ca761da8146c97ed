"""Aggregate stage: result tables, the comparison with the paper and plots."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ecgssl.evaluation.metrics import METRIC_KEYS
from ecgssl.evaluation.paper import paper_comparison
from ecgssl.evaluation.plots import (
    plot_accuracy_by_method,
    plot_confusion_matrices,
    plot_pretext_history,
)
from ecgssl.evaluation.tables import GROUP_KEYS, load_metrics, summarize
from ecgssl.stages.provenance import write_json
from ecgssl.util.atomic import atomic_path, write_text_atomic

log = logging.getLogger(__name__)


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
        write_json(config_path, dict(config or {}))
    log.info("aggregated %d fold results into %d rows", len(df), len(summary))
    return summary

"""Aggregate stage: result tables, the comparison with the paper and plots."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ecgssl.evaluation.compare import (
    compare_markdown,
    compare_table,
    pretext_columns,
)
from ecgssl.evaluation.metrics import METRIC_KEYS
from ecgssl.evaluation.paper import paper_comparison
from ecgssl.evaluation.plots import (
    plot_accuracy_by_method,
    plot_compare,
    plot_confusion_matrices,
    plot_label_fractions,
    plot_pretext_history,
    plot_pretrain_fractions,
)
from ecgssl.evaluation.tables import (
    GROUP_KEYS,
    comparisons,
    load_metrics,
    load_predictions,
    subject_table,
    summarize,
)
from ecgssl.stages.provenance import write_json
from ecgssl.util.atomic import atomic_path, write_text_atomic
from ecgssl.util.errors import DataFormatError

log = logging.getLogger(__name__)


#: The pooled row of a real-ECG check (``ecgssl.learning.pretext.transfer``'s
#: ``ALL_REFERENCES``, not imported: this stage runs without torch; a test ties them).
ALL_REFERENCES = "all"

#: The outputs :func:`aggregate_stage` writes (keys of its ``outputs`` argument).
OUTPUTS = (
    "summary", "folds", "subjects", "comparisons", "pretext", "config",
    "paper_comparison", "pretext_plot", "accuracy_plot", "confusion_plot",
    "fraction_plot", "compare", "compare_md", "compare_plot", "pretrain_fraction_plot",
)  # fmt: skip


def _real_ecg_columns(path: Path) -> dict[str, Any]:
    """``real_bacc_<task>`` and ``real_ecg_mean`` of the pooled row of a check."""
    table = pd.read_csv(path, sep="\t")
    pooled = table[table.recording == ALL_REFERENCES]
    if len(pooled) != 1:
        raise DataFormatError(path, "recording", f"needs one {ALL_REFERENCES!r} row")
    row = pooled.iloc[0]
    heads = [c for c in table.columns if c not in ("recording", "mean")]
    return {
        **{f"real_bacc_{task}": float(row[task]) for task in heads},
        "real_ecg_mean": float(row["mean"]),
        "real_ecg_recordings": ",".join(
            sorted(r for r in table.recording if r != ALL_REFERENCES)
        ),
    }


def pretext_table(
    sidecars: Sequence[Path], real_ecg: Sequence[Path] = ()
) -> pd.DataFrame:
    """One row per encoder unit: what it saw, how long it trained, what it learned.

    Read from each unit's ``encoder.json`` and ``history.tsv``: per-head
    validation balanced accuracy (chance 0.5), the seven-way top-1 accuracy
    (chance 1/7), the tasks not learned (balanced accuracy < 0.75), the precision
    that ran and the training time; and, for the units in ``real_ecg`` (their
    ``real_ecg.tsv``), the per-head balanced accuracy on real ECG (all reference
    recordings pooled).
    """
    checks = {Path(p).parent: Path(p) for p in real_ecg}
    rows = []
    for path in sidecars:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
        history = pd.read_csv(Path(path).with_name("history.tsv"), sep="\t")
        bacc = meta.get("val_balanced_accuracy") or {}
        not_learned = meta.get("not_learned")
        rows.append({
            "pretext": Path(path).parent.parent.name,
            "unit": Path(path).parent.name,
            "scope": (meta.get("unit") or {}).get("scope"),
            "pretrain_fraction": meta.get("pretrain_fraction", 1.0),
            "precision": meta.get("precision"),
            "epochs": meta.get("epochs_trained"),
            "n_train_windows": meta.get("n_train_windows"),
            "n_val_windows": meta.get("n_val_windows"),
            **{f"val_bacc_{task}": value for task, value in bacc.items()},
            "val_top1": meta.get("val_top1"),
            "not_learned": None if not_learned is None else ",".join(not_learned),
            "seconds": float(history["seconds"].sum()),
            "windows_per_s": float(history["windows_per_s"].mean()),
        })  # fmt: skip
        if Path(path).parent in checks:
            rows[-1].update(_real_ecg_columns(checks[Path(path).parent]))
    return pd.DataFrame(rows)


def aggregate_stage(
    metrics_paths: Sequence[Path],
    sidecars: Sequence[Path],
    *,
    outputs: Mapping[str, Path],
    evaluation: Mapping[str, Any],
    seed: int,
    config: dict[str, Any] | None = None,
    real_ecg: Sequence[Path] = (),
    pretexts: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Result tables, the paper comparison and the figures of a finished run.

    Parameters
    ----------
    metrics_paths : sequence of Path
        Every fine-tuning job's ``metrics.json`` (its ``predictions.parquet`` next
        to it).
    sidecars : sequence of Path
        Every encoder unit's ``encoder.json`` (its ``history.tsv`` next to it).
    outputs : mapping
        :data:`OUTPUTS` -> path.
    evaluation : mapping
        ``confidence`` and ``n_bootstrap`` of the intervals.
    seed : int
        Seed of the bootstrap resampling.
    config : dict or None
        The resolved workflow configuration, written to ``outputs["config"]`` (for
        the report: every result traceable to its config).
    real_ecg : sequence of Path
        Encoder units' ``real_ecg.tsv`` (next to their sidecars), for the pretext
        table.
    pretexts : mapping or None
        Name -> full settings of every pretext configuration, for the comparison
        table's columns (None: only their names are known).
    """
    missing = sorted(set(OUTPUTS) - set(outputs))
    if missing:
        raise ValueError(f"outputs lacks {missing}")
    df = load_metrics(metrics_paths)
    predictions = load_predictions(df)
    options = {"confidence": evaluation["confidence"],
               "n_bootstrap": evaluation["n_bootstrap"], "seed": seed}  # fmt: skip
    summary = summarize(df, predictions, **options)
    pretext = pretext_table(sidecars, real_ecg)
    first = [*GROUP_KEYS, "repeat", "fold"]
    metrics = [k for k in METRIC_KEYS if k not in ("confusion_matrix", "n_test")]
    last = ["n_train", "n_val", "n_test", "n_classes", "n_train_subjects",
            "n_test_subjects", "best_epoch", "precision", "unit", "seed", "seconds",
            "source"]  # fmt: skip
    per_fold = df[[c for c in first + metrics + last if c in df.columns]]
    tables = {
        "summary": summary,
        "folds": per_fold,
        "subjects": subject_table(predictions),
        "comparisons": comparisons(predictions, **options),
        "pretext": pretext,
    }
    for name, table in tables.items():
        with atomic_path(outputs[name]) as tmp:
            table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    write_text_atomic(outputs["paper_comparison"], paper_comparison(summary))
    if pretexts is None:
        pretexts = {name: {} for name in df.pretext.unique() if name != "none"}
    compared = compare_table(summary, pretexts)
    with atomic_path(outputs["compare"]) as tmp:
        compared.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    settings = list(pretext_columns(pretexts).columns[4:])
    write_text_atomic(outputs["compare_md"], compare_markdown(compared, settings))
    scheme = "multiclass" if (df.scheme == "multiclass").any() else df.scheme.iloc[0]
    histories = [(f"{Path(p).parent.name}", Path(p).with_name("history.tsv"))
                 for p in sidecars]  # fmt: skip
    for plot, name in (
        (lambda p: plot_pretext_history(histories, p), "pretext_plot"),
        (lambda p: plot_accuracy_by_method(summary, p), "accuracy_plot"),
        (lambda p: plot_confusion_matrices(df, p, scheme=scheme), "confusion_plot"),
        (lambda p: plot_label_fractions(summary, p), "fraction_plot"),
        (lambda p: plot_compare(compared, p), "compare_plot"),
        (
            lambda p: plot_pretrain_fractions(compared, p, settings=settings),
            "pretrain_fraction_plot",
        ),
    ):
        with atomic_path(outputs[name]) as tmp:  # the temporary name keeps .png
            plot(tmp)
    write_json(outputs["config"], dict(config or {}))
    log.info("aggregated %d fold results into %d rows", len(df), len(summary))
    return summary

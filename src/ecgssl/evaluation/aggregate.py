"""Fold metrics -> summary tables, a comparison with the paper, and figures."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ecgssl.evaluation.metrics import METRIC_KEYS
from ecgssl.util.atomic import atomic_path
from ecgssl.util.errors import DataFormatError

__all__ = [
    "GROUP_KEYS",
    "METRIC_FILE_KEYS",
    "PAPER_TABLE",
    "SUMMARY_METRICS",
    "PaperCell",
    "load_metrics",
    "paper_comparison",
    "plot_accuracy_by_method",
    "plot_confusion_matrices",
    "plot_pretext_history",
    "summarize",
]


@dataclass(frozen=True)
class PaperCell:
    """One row of the paper's result table (10-fold CV over shuffled windows).

    Attributes
    ----------
    n_classes : int
        Number of classes in the paper's Table 2.
    supervised_accuracy, supervised_f1 : float
        The fully supervised CNN.
    ssl_accuracy, ssl_f1 : float
        The self-supervised CNN (frozen pretrained convolutions + dense head).
    """

    n_classes: int
    supervised_accuracy: float
    supervised_f1: float
    ssl_accuracy: float
    ssl_f1: float


#: Sarkar & Etemad (2020), accuracy / F1, keyed by (dataset, label column).
#: Their "F1" is 2PR/(P+R) of macro precision and recall (our ``f1_macro_pr``).
PAPER_TABLE: dict[tuple[str, str], PaperCell] = {
    ("amigos", "arousal"): PaperCell(9, 0.844, 0.835, 0.889, 0.884),
    ("amigos", "valence"): PaperCell(9, 0.811, 0.809, 0.875, 0.874),
    ("dreamer", "arousal"): PaperCell(5, 0.707, 0.708, 0.859, 0.859),
    ("dreamer", "valence"): PaperCell(5, 0.666, 0.658, 0.850, 0.845),
    ("wesad", "affect"): PaperCell(4, 0.932, 0.912, 0.969, 0.963),
    ("swell", "stress"): PaperCell(3, 0.894, 0.874, 0.933, 0.924),
    ("swell", "arousal"): PaperCell(9, 0.956, 0.962, 0.967, 0.964),
    ("swell", "valence"): PaperCell(9, 0.961, 0.956, 0.973, 0.969),
}

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
_METHOD_ORDER = ("supervised", "ssl_frozen", "ssl_finetune")
_PROTOCOL_ORDER = ("window_kfold", "subject_kfold")
_DASH = "—"


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


def _fmt(value: float) -> str:
    return _DASH if value is None or not math.isfinite(value) else f"{value:.3f}"


def _ours(
    summary: pd.DataFrame, dataset: str, label: str, protocol: str, method: str
) -> pd.Series | None:
    rows = summary[
        (summary["dataset"] == dataset)
        & (summary["label"] == label)
        & (summary["scheme"] == "multiclass")
        & (summary["protocol"] == protocol)
        & (summary["method"] == method)
    ]
    return None if rows.empty else rows.iloc[0]


def _cell(row: pd.Series | None) -> str:
    if row is None:
        return _DASH
    std = row["accuracy_std"]
    acc = _fmt(row["accuracy_mean"])
    if math.isfinite(std):
        acc += f" ± {std:.3f}"
    return f"{acc} / {_fmt(row['f1_macro_pr_mean'])} / {_fmt(row['macro_f1_mean'])}"


def paper_comparison(summary: pd.DataFrame) -> str:
    """Markdown tables: the paper's numbers next to ours.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarize`. Only the ``"multiclass"`` scheme (the paper's
        setup: raw scores as classes) is compared.

    Returns
    -------
    str
        Markdown with two tables (the paper's window-wise protocol, and the
        stricter subject-wise protocol the paper did not run) and notes on how our
        methods map to the paper's columns. Cells we did not run show "—".
    """
    lines = [
        "## Comparison with Sarkar & Etemad (2020)",
        "",
        "Paper cells: accuracy / F1. Our cells: accuracy mean ± std over folds / "
        "F1 as the paper computes it (2PR/(P+R) of macro precision and macro recall) "
        "/ macro-F1 (mean of per-class F1, the usual definition). Only the "
        "multiclass scheme (raw scores as classes) matches the paper's setup.",
        "",
        "Which of ours is which paper column: paper **fully supervised** = "
        "`supervised` with `window_kfold`; paper **self-supervised** = `ssl_frozen` "
        "with `window_kfold` (frozen pretrained convolutions, dense head trained). "
        "`ssl_finetune` (all layers trained) has no paper counterpart.",
        "",
        "### Paper protocol: 10-fold CV over shuffled windows (`window_kfold`)",
        "",
        "| dataset | label | classes (paper / ours) | folds (paper / ours) | "
        "paper fully supervised | "
        "ours supervised | paper self-supervised | ours ssl_frozen | "
        "ours ssl_finetune | majority baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (dataset, label), paper in PAPER_TABLE.items():
        rows = {
            m: _ours(summary, dataset, label, "window_kfold", m) for m in _METHOD_ORDER
        }
        lines.append(
            "| "
            + " | ".join(
                [
                    dataset,
                    label,
                    f"{paper.n_classes} / {_n_classes(rows)}",
                    f"10 / {_n_folds(rows)}",
                    f"{paper.supervised_accuracy:.3f} / {paper.supervised_f1:.3f}",
                    _cell(rows["supervised"]),
                    f"{paper.ssl_accuracy:.3f} / {paper.ssl_f1:.3f}",
                    _cell(rows["ssl_frozen"]),
                    _cell(rows["ssl_finetune"]),
                    _majority(rows),
                ]
            )
            + " |"
        )
    lines += [
        "",
        "### Stricter protocol: subject-wise folds (`subject_kfold`)",
        "",
        "No person is in both the training and the test part of a fold. The paper "
        "did not run this protocol; its window-wise folds put windows of the same "
        "person (often of the same trial) in training and test folds.",
        "",
        "| dataset | label | classes | folds | ours supervised | ours ssl_frozen | "
        "ours ssl_finetune | majority baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset, label in PAPER_TABLE:
        rows = {
            m: _ours(summary, dataset, label, "subject_kfold", m) for m in _METHOD_ORDER
        }
        lines.append(
            "| "
            + " | ".join(
                [
                    dataset,
                    label,
                    _n_classes(rows),
                    _n_folds(rows),
                    _cell(rows["supervised"]),
                    _cell(rows["ssl_frozen"]),
                    _cell(rows["ssl_finetune"]),
                    _majority(rows),
                ]
            )
            + " |"
        )
    lines += [
        "",
        "The majority baseline is the accuracy of always predicting the training "
        "fold's most frequent class. Binary-scheme runs and labels the paper did not "
        "report are in the summary table only.",
        "",
    ]
    return "\n".join(lines)


def _n_classes(rows: dict[str, pd.Series | None]) -> str:
    for row in rows.values():
        if row is not None and "n_classes" in row:
            return str(int(row["n_classes"]))
    return _DASH


def _n_folds(rows: dict[str, pd.Series | None]) -> str:
    for row in rows.values():
        if row is not None:
            return str(int(row["n_folds"]))
    return _DASH


def _majority(rows: dict[str, pd.Series | None]) -> str:
    for row in rows.values():
        if row is not None:
            return _fmt(row["majority_accuracy_mean"])
    return _DASH


def _save(fig: Figure, out_png: str | Path) -> None:
    """Write a PNG atomically, without the matplotlib version in its metadata.

    Figures are plain :class:`matplotlib.figure.Figure` objects rendered with the Agg
    canvas: no pyplot, no global backend switch, nothing to close.
    """
    with atomic_path(Path(out_png)) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})


def plot_pretext_history(history_tsv: str | Path, out_png: str | Path) -> None:
    """Plot the pretext training curves.

    Parameters
    ----------
    history_tsv : path
        Tab-separated, one row per epoch, with columns ``epoch``, ``train_loss``,
        ``val_loss``, ``lr``, ``seconds``, ``windows_per_s`` and one
        ``val_acc_<task>`` column per transformation-recognition task.
    out_png : path
        Output figure: loss per epoch (left), validation accuracy per task (right).
    """
    path = Path(history_tsv)
    try:
        hist = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(path, "<tsv>", f"cannot read: {exc}") from exc
    for column in ("epoch", "train_loss", "val_loss"):
        if column not in hist:
            raise DataFormatError(path, column, "missing column")
    tasks = [c for c in hist.columns if c.startswith("val_acc_")]
    fig = Figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(hist["epoch"], hist["train_loss"], marker=".", label="train")
    ax_loss.plot(hist["epoch"], hist["val_loss"], marker=".", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="weighted loss", title="Pretext loss")
    ax_loss.legend()
    for column in tasks:
        ax_acc.plot(
            hist["epoch"], hist[column], marker=".", label=column[len("val_acc_") :]
        )
    ax_acc.set(
        xlabel="epoch",
        ylabel="accuracy",
        ylim=(0.0, 1.02),
        title="Validation accuracy per task",
    )
    if tasks:
        ax_acc.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    _save(fig, out_png)


def _combo_order(summary: pd.DataFrame) -> list[tuple[str, str]]:
    present = set(zip(summary["protocol"], summary["method"], strict=True))

    def rank(combo: tuple[str, str]) -> tuple[int, int, str, str]:
        p, m = combo
        pi = _PROTOCOL_ORDER.index(p) if p in _PROTOCOL_ORDER else len(_PROTOCOL_ORDER)
        mi = _METHOD_ORDER.index(m) if m in _METHOD_ORDER else len(_METHOD_ORDER)
        return pi, mi, p, m

    return sorted(present, key=rank)


def plot_accuracy_by_method(summary: pd.DataFrame, out_png: str | Path) -> None:
    """Grouped bars of mean test accuracy ± std over folds.

    One panel per label scheme; one group per dataset/label; one bar per protocol x
    method; a black tick over each bar marks that experiment's majority baseline.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarize`.
    out_png : path
        Output figure.
    """
    if summary.empty:
        raise ValueError("summary is empty: nothing to plot")
    schemes = sorted(summary["scheme"].unique())
    combos = _combo_order(summary)
    n_groups = summary.groupby(["dataset", "label"]).ngroups
    width = 0.8 / len(combos)
    fig = Figure(
        figsize=(max(6.0, 0.6 * n_groups * len(combos) + 3.0), 3.6 * len(schemes)),
        layout="constrained",
    )
    axes = fig.subplots(len(schemes), 1, squeeze=False)
    colors = colormaps["tab10"]
    for ax, scheme in zip(axes[:, 0], schemes, strict=True):
        part = summary[summary["scheme"] == scheme]
        groups = sorted(set(zip(part["dataset"], part["label"], strict=True)))
        x = np.arange(len(groups))
        for k, (protocol, method) in enumerate(combos):
            means, stds, majority = [], [], []
            for dataset, label in groups:
                row = part[
                    (part["dataset"] == dataset)
                    & (part["label"] == label)
                    & (part["protocol"] == protocol)
                    & (part["method"] == method)
                ]
                if row.empty:
                    means.append(np.nan)
                    stds.append(np.nan)
                    majority.append(np.nan)
                else:
                    means.append(row["accuracy_mean"].iloc[0])
                    stds.append(row["accuracy_std"].iloc[0])
                    majority.append(row["majority_accuracy_mean"].iloc[0])
            pos = x - 0.4 + width * (k + 0.5)
            ax.bar(
                pos,
                np.asarray(means, dtype=float),
                width,
                yerr=np.asarray(stds, dtype=float),
                capsize=2,
                color=colors(k % 10),
                label=f"{method} ({protocol})",
            )
            ax.hlines(
                majority,
                pos - width / 2,
                pos + width / 2,
                colors="black",
                linewidth=2,
                zorder=3,
                label="majority baseline" if k == 0 else None,
            )
        ax.set_xticks(x, [f"{d}\n{lab}" for d, lab in groups])
        ax.set(ylim=(0.0, 1.05), ylabel="accuracy", title=f"Scheme: {scheme}")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, out_png)


def plot_confusion_matrices(
    df: pd.DataFrame, out_png: str | Path, *, scheme: str = "multiclass"
) -> None:
    """Confusion matrices summed over folds, one panel per experiment.

    One row of panels per dataset x label, one column per protocol x method, for one
    label scheme. Colours are
    row-normalised (recall per true class); cells show the counts when there are at
    most 9 classes.

    Parameters
    ----------
    df : pandas.DataFrame
        Per-fold table from :func:`load_metrics`.
    out_png : path
        Output figure.
    scheme : str
        Which label scheme to draw.
    """
    part = df[df["scheme"] == scheme]
    if part.empty:
        raise ValueError(f"df has no rows with scheme={scheme!r}")
    combos = _combo_order(part)
    rows = sorted(set(zip(part["dataset"], part["label"], strict=True)))
    fig = Figure(
        figsize=(2.9 * len(combos), 2.9 * len(rows) + 0.5), layout="constrained"
    )
    axes = fig.subplots(len(rows), len(combos), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    keys = ["dataset", "label", "protocol", "method"]
    for (dataset, label, protocol, method), group in part.groupby(keys, sort=True):
        ax = axes[rows.index((dataset, label)), combos.index((protocol, method))]
        ax.axis("on")
        cm = np.sum(
            [np.asarray(m, dtype=np.int64) for m in group["confusion_matrix"]], axis=0
        )
        names = list(group["class_names"].iloc[0])
        totals = cm.sum(axis=1, keepdims=True)
        frac = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
        ax.imshow(frac, vmin=0.0, vmax=1.0, cmap="Blues")
        n = cm.shape[0]
        ticks = np.arange(n)
        ax.set_xticks(ticks, names, fontsize=7)
        ax.set_yticks(ticks, names, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(f"{dataset} {label}\n{method}, {protocol}", fontsize=8)
        if n <= 9:
            for i in range(n):
                for j in range(n):
                    ax.text(
                        j,
                        i,
                        str(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=6 if n > 5 else 8,
                        color="white" if frac[i, j] > 0.5 else "black",
                    )
    fig.suptitle(f"Confusion matrices summed over folds (scheme: {scheme})")
    _save(fig, out_png)

"""Figures of a finished run: pretext curves, accuracy by method, confusion matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ecgssl.evaluation.tables import METHOD_ORDER, PROTOCOL_ORDER
from ecgssl.util.atomic import atomic_path
from ecgssl.util.errors import DataFormatError

__all__ = [
    "plot_accuracy_by_method",
    "plot_confusion_matrices",
    "plot_pretext_history",
]


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
        pi = PROTOCOL_ORDER.index(p) if p in PROTOCOL_ORDER else len(PROTOCOL_ORDER)
        mi = METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER)
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

"""Figures of a finished run: pretext curves, accuracy by method, confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence
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
    "plot_compare",
    "plot_confusion_matrices",
    "plot_label_fractions",
    "plot_pretext_history",
    "plot_pretrain_fractions",
    "variant_name",
]


def _save(fig: Figure, out_png: str | Path) -> None:
    """Write a PNG atomically, without the matplotlib version in its metadata.

    Figures are plain :class:`matplotlib.figure.Figure` objects rendered with the Agg
    canvas: no pyplot, no global backend switch, nothing to close.
    """
    with atomic_path(Path(out_png)) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})


def _read_history(path: Path) -> pd.DataFrame:
    try:
        hist = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(path, "<tsv>", f"cannot read: {exc}") from exc
    for column in ("epoch", "train_loss", "val_loss"):
        if column not in hist:
            raise DataFormatError(path, column, "missing column")
    return hist


def plot_pretext_history(
    histories: Sequence[tuple[str, str | Path]], out_png: str | Path
) -> None:
    """Plot the pretext training curves of one or more encoder units.

    Parameters
    ----------
    histories : sequence of (unit, path)
        Each unit's ``history.tsv``: one row per epoch with ``epoch``,
        ``train_loss``, ``val_loss`` and ``val_bacc_<task>`` (balanced accuracy per
        head, chance 0.5; files with only ``val_acc_<task>`` are drawn from those).
    out_png : path
        Output figure: loss per epoch and unit (left); validation balanced
        accuracy per task, averaged over the units (right), with chance (0.5) and
        the "learned" threshold (0.75) marked.
    """
    if not histories:
        raise ValueError("histories is empty: nothing to plot")
    frames = [(unit, _read_history(Path(path))) for unit, path in histories]
    fig = Figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for k, (unit, hist) in enumerate(frames):
        color = colormaps["tab10"](k % 10)
        ax_loss.plot(hist["epoch"], hist["train_loss"], color=color, label=unit)
        ax_loss.plot(hist["epoch"], hist["val_loss"], color=color, linestyle="--")
    ax_loss.set(
        xlabel="epoch",
        ylabel="weighted loss",
        title="Pretext loss (solid: train, dashed: validation)",
    )
    ax_loss.legend(fontsize="x-small", ncol=2)
    prefix = "val_bacc_" if "val_bacc_original" in frames[0][1] else "val_acc_"
    tasks = [
        c
        for c in frames[0][1].columns
        if c.startswith(prefix) and not c.endswith("_mean")
    ]
    merged = pd.concat([h for _, h in frames]).groupby("epoch").mean(numeric_only=True)
    for column in tasks:
        ax_acc.plot(
            merged.index, merged[column], marker=".", label=column[len(prefix) :]
        )
    ax_acc.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax_acc.axhline(0.75, color="grey", linewidth=0.8, linestyle="--")
    what = "balanced accuracy" if prefix == "val_bacc_" else "accuracy"
    units = f"{len(frames)} encoder{'s' if len(frames) > 1 else ''}"
    ax_acc.set(
        xlabel="epoch",
        ylabel=what,
        ylim=(0.0, 1.02),
        title=f"Validation {what} per task (mean over {units})",
    )
    if tasks:
        ax_acc.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    _save(fig, out_png)


def variant_name(row: pd.Series) -> str:
    """How a method variant is named in figures: method, pretext, transductive mark."""
    name = str(row["method"])
    pretext = row.get("pretext", "none")
    if pretext not in ("none", None):
        name += f" @{pretext}"
    if bool(row.get("transductive", False)):
        name += " (transductive)"
    return name


def _headline(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows at label fraction 1 (the other fractions have their own figure)."""
    if "label_fraction" in frame:
        frame = frame[frame["label_fraction"] == 1.0]
    frame = frame.copy()
    frame["variant"] = frame.apply(variant_name, axis=1) if len(frame) else []
    return frame


def _bar(row: pd.Series) -> tuple[float, float, float]:
    """Error bar (below, above) and mean: the interval if there is one, else std."""
    mean, std = row["accuracy_mean"], row["accuracy_std"]
    low, high = row.get("accuracy_ci_low"), row.get("accuracy_ci_high")
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return std, std, mean
    return max(mean - low, 0.0), max(high - mean, 0.0), mean


def _combo_order(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(protocol, variant) pairs present, protocols and methods in display order."""
    present = set(zip(frame["protocol"], frame["variant"], strict=True))

    def rank(combo: tuple[str, str]) -> tuple[int, int, str, str]:
        p, v = combo
        m = v.split(" ")[0]
        pi = PROTOCOL_ORDER.index(p) if p in PROTOCOL_ORDER else len(PROTOCOL_ORDER)
        mi = METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER)
        return pi, mi, p, v

    return sorted(present, key=rank)


def plot_accuracy_by_method(summary: pd.DataFrame, out_png: str | Path) -> None:
    """Grouped bars of mean test accuracy with its 95% interval (else ± std).

    One panel per label scheme; one group per dataset/label; one bar per protocol x
    method variant (label fraction 1); a black tick over each bar marks that
    experiment's majority baseline.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarize`.
    out_png : path
        Output figure.
    """
    summary = _headline(summary)
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
        for k, (protocol, variant) in enumerate(combos):
            means, errors, majority = [], [[], []], []
            for dataset, label in groups:
                row = part[
                    (part["dataset"] == dataset)
                    & (part["label"] == label)
                    & (part["protocol"] == protocol)
                    & (part["variant"] == variant)
                ]
                if row.empty:
                    means.append(np.nan)
                    errors[0].append(np.nan)
                    errors[1].append(np.nan)
                    majority.append(np.nan)
                    continue
                low, high, mean = _bar(row.iloc[0])
                means.append(mean)
                errors[0].append(low)
                errors[1].append(high)
                majority.append(row["majority_accuracy_mean"].iloc[0])
            pos = x - 0.4 + width * (k + 0.5)
            ax.bar(
                pos,
                np.asarray(means, dtype=float),
                width,
                yerr=np.asarray(errors, dtype=float),
                capsize=2,
                color=colors(k % 10),
                label=f"{variant} ({protocol})",
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
    part = _headline(df[df["scheme"] == scheme])
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
    keys = ["dataset", "label", "protocol", "variant"]
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
    fig.suptitle(f"Confusion matrices summed over folds and repeats (scheme: {scheme})")
    _save(fig, out_png)


def plot_label_fractions(summary: pd.DataFrame, out_png: str | Path) -> None:
    """Accuracy against the share of labelled training windows, per method.

    One panel per dataset x label x scheme x protocol that ran at more than one
    label fraction; one line per method variant with its 95% interval as a band;
    the majority baseline dashed. This is where self-supervision is supposed to pay
    off: with few labels.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`ecgssl.evaluation.tables.summarize`.
    out_png : path
        Output figure (a note when no experiment ran at several label fractions).
    """
    frame = summary.copy()
    frame["variant"] = frame.apply(variant_name, axis=1) if len(frame) else []
    keys = ["dataset", "label", "scheme", "protocol"]
    panels = [
        (key, part)
        for key, part in frame.groupby(keys, sort=True)
        if part["label_fraction"].nunique() > 1
    ]
    cols = min(3, max(1, len(panels)))
    n_rows = max(1, (len(panels) + cols - 1) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(
            0.5, 0.5, "no experiment ran at several label fractions", ha="center"
        )
    for ax, (key, part) in zip(axes.flat, panels, strict=False):
        ax.axis("on")
        for k, (variant, line) in enumerate(part.groupby("variant", sort=True)):
            line = line.sort_values("label_fraction")
            color = colormaps["tab10"](k % 10)
            x = line["label_fraction"]
            ax.plot(x, line["accuracy_mean"], marker="o", color=color, label=variant)
            if "accuracy_ci_low" in line:
                ax.fill_between(
                    x,
                    line["accuracy_ci_low"],
                    line["accuracy_ci_high"],
                    color=color,
                    alpha=0.15,
                )
        majority = part.groupby("label_fraction")["majority_accuracy_mean"].mean()
        ax.plot(
            majority.index,
            majority.to_numpy(),
            color="black",
            linestyle="--",
            linewidth=1,
            label="majority",
        )
        ax.set_xscale("log")
        ax.set(
            xlabel="share of labelled training windows",
            ylabel="accuracy",
            ylim=(0.0, 1.02),
            title=" ".join(map(str, key)),
        )
        ax.legend(fontsize="x-small")
    _save(fig, out_png)


def _compare_label(row: pd.Series) -> str:
    """A comparison row's name: evaluation method @ pretext configuration."""
    name = str(row["method"])
    if row.get("pretext") not in ("none", None):
        name += f" @{row['pretext']}"
    if bool(row.get("transductive", False)):
        name += " (transductive)"
    return name


def plot_compare(table: pd.DataFrame, out_png: str | Path) -> None:
    """Accuracy of every pretext configuration x evaluation method, side by side.

    One panel per dataset x label x scheme of the comparison table
    (:func:`ecgssl.evaluation.compare.compare_table`, subject-wise folds): one
    horizontal bar per row with its 95% interval over test subjects; the majority
    baseline as a dashed line.

    Parameters
    ----------
    table : pandas.DataFrame
        The comparison table.
    out_png : path
        Output figure (a note when the table is empty).
    """
    panels = list(table.groupby(["dataset", "label", "scheme"], sort=False))
    cols = min(2, max(1, len(panels)))
    n_rows = max(1, (len(panels) + cols - 1) // cols)
    n_bars = max([len(part) for _, part in panels] or [1])
    fig = Figure(
        figsize=(6.5 * cols, max(2.5, 0.32 * n_bars + 1.2) * n_rows),
        layout="constrained",
    )
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no subject_kfold result to compare", ha="center")
    colors = colormaps["tab10"]
    for ax, (key, part) in zip(axes.flat, panels, strict=False):
        ax.axis("on")
        methods = list(dict.fromkeys(part["method"]))
        y = np.arange(len(part))[::-1]
        for pos, (_, row) in zip(y, part.iterrows(), strict=True):
            low, high, mean = _bar(row)
            ax.barh(pos, mean, xerr=[[low], [high]], capsize=2, height=0.7,
                    color=colors(methods.index(row["method"]) % 10))  # fmt: skip
        ax.axvline(float(part["majority_accuracy_mean"].mean()), color="black",
                   linestyle="--", linewidth=1, label="majority")  # fmt: skip
        ax.set_yticks(y, [_compare_label(r) for _, r in part.iterrows()],
                      fontsize="x-small")  # fmt: skip
        ax.set(xlim=(0.0, 1.02), xlabel="accuracy (subject_kfold)",
               title=" ".join(map(str, key)))  # fmt: skip
        ax.legend(fontsize="x-small", loc="lower right")
    _save(fig, out_png)


def plot_pretrain_fractions(
    table: pd.DataFrame, out_png: str | Path, *, settings: Sequence[str] = ()
) -> None:
    """Downstream accuracy against the share of unlabelled windows pretrained on.

    One panel per dataset x label x scheme of the comparison table (subject-wise
    folds, all labels) whose configurations ran at more than one pretraining
    fraction; one line per evaluation method x family of configurations that differ
    only in ``pretrain_fraction`` (named by their other ``settings``), with its 95%
    interval over test subjects as a band; the majority baseline dashed.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`ecgssl.evaluation.compare.compare_table`.
    out_png : path
        Output figure (a note when no configuration varied the fraction).
    settings : sequence of str
        Configuration columns of ``table`` that tell families apart (e.g. the
        pretext method, the backbone, a swept key).
    """
    frame = table[table["pretext"] != "none"].copy() if len(table) else table
    family_keys = [
        c for c in ("pretext_method", "backbone", "scope", *settings)
        if c in frame and c != "pretrain_fraction"
    ]  # fmt: skip
    keys = ["dataset", "label", "scheme"]
    panels = [
        (key, part) for key, part in frame.groupby(keys, sort=True)
        if part["pretrain_fraction"].nunique() > 1
    ] if len(frame) else []  # fmt: skip
    cols = min(3, max(1, len(panels)))
    n_rows = max(1, (len(panels) + cols - 1) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.5 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no configuration varied pretrain_fraction",
                        ha="center")  # fmt: skip
    for ax, (key, part) in zip(axes.flat, panels, strict=False):
        ax.axis("on")
        by = ["method", *family_keys]
        lines = part.fillna({k: "" for k in by}).groupby(by, sort=True)
        for k, (family, line) in enumerate(lines):
            if line["pretrain_fraction"].nunique() < 2:
                continue
            line = line.sort_values("pretrain_fraction")
            color = colormaps["tab10"](k % 10)
            x = line["pretrain_fraction"]
            named = dict(zip(by, family, strict=True))
            label = ", ".join(
                [str(named["method"])]
                + [f"{c}={named[c]}" for c in family_keys
                   if part[c].astype(str).nunique() > 1]
            )  # fmt: skip
            ax.plot(x, line["accuracy_mean"], marker="o", color=color, label=label)
            if "accuracy_ci_low" in line:
                ax.fill_between(x, line["accuracy_ci_low"], line["accuracy_ci_high"],
                                color=color, alpha=0.15)  # fmt: skip
        majority = part.groupby("pretrain_fraction")["majority_accuracy_mean"].mean()
        ax.plot(majority.index, majority.to_numpy(), color="black", linestyle="--",
                linewidth=1, label="majority")  # fmt: skip
        ax.set_xscale("log")
        ax.set(xlabel="share of unlabelled windows pretrained on",
               ylabel="accuracy (subject_kfold)", ylim=(0.0, 1.02),
               title=" ".join(map(str, key)))  # fmt: skip
        ax.legend(fontsize="x-small")
    _save(fig, out_png)

"""Tests of metric aggregation, the paper comparison and the figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgssl.evaluation.paper import PAPER_TABLE, paper_comparison
from ecgssl.evaluation.plots import (
    plot_accuracy_by_method,
    plot_confusion_matrices,
    plot_pretext_history,
)
from ecgssl.evaluation.tables import load_metrics, summarize
from ecgssl.util.errors import DataFormatError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _record(dataset, label, protocol, method, fold, acc, scheme="multiclass"):
    n = 5 if dataset == "dreamer" else 4
    cm = np.zeros((n, n), dtype=int)
    cm[np.arange(n), np.arange(n)] = 3
    cm[0, 1] = fold + 1
    return {
        "dataset": dataset,
        "label": label,
        "scheme": scheme,
        "protocol": protocol,
        "method": method,
        "fold": fold,
        "accuracy": acc,
        "macro_f1": acc - 0.05,
        "f1_macro_pr": acc - 0.02,
        "kappa": acc - 0.3,
        "confusion_matrix": cm.tolist(),
        "majority_accuracy": 0.3,
        "test_majority_share": 0.35,
        "n_train": 90,
        "n_test": 10,
        "n_classes": n,
        "class_names": [str(i + 1) for i in range(n)],
        "seed": 1234 + fold,
    }


def _write(tmp_path: Path, records: list[dict]) -> list[Path]:
    paths = []
    for i, rec in enumerate(records):
        p = tmp_path / f"m{i}.json"
        p.write_text(json.dumps(rec))
        paths.append(p)
    return paths


@pytest.fixture
def metrics(tmp_path):
    records = [
        _record("dreamer", "valence", "window_kfold", "ssl_frozen", 0, 0.80),
        _record("dreamer", "valence", "window_kfold", "ssl_frozen", 1, 0.90),
        _record("dreamer", "valence", "window_kfold", "ssl_frozen", 2, 0.70),
        _record("dreamer", "valence", "subject_kfold", "supervised", 0, 0.40),
        _record("dreamer", "valence", "subject_kfold", "supervised", 1, 0.50),
        _record("wesad", "affect", "window_kfold", "supervised", 0, 0.6),
    ]
    return load_metrics(_write(tmp_path, records))


def test_load_metrics_one_row_per_file(metrics):
    assert len(metrics) == 6
    assert list(metrics[["dataset", "fold"]].iloc[0]) == ["dreamer", 0]
    assert metrics["source"].str.endswith(".json").all()


def test_load_metrics_missing_key_names_file_and_key(tmp_path):
    rec = _record("wesad", "affect", "window_kfold", "supervised", 0, 0.6)
    del rec["macro_f1"]
    (path,) = _write(tmp_path, [rec])
    with pytest.raises(DataFormatError, match=r"m0\.json: field 'macro_f1'"):
        load_metrics([path])


def test_load_metrics_bad_json_and_duplicates(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json"):
        load_metrics([bad])
    rec = _record("wesad", "affect", "window_kfold", "supervised", 0, 0.6)
    with pytest.raises(ValueError, match="same dataset"):
        load_metrics(_write(tmp_path, [rec, rec]))
    rec["confusion_matrix"] = [[1]]
    with pytest.raises(DataFormatError, match="confusion_matrix"):
        load_metrics(_write(tmp_path, [rec]))


def test_summarize_mean_std_over_folds(metrics):
    s = summarize(metrics)
    assert len(s) == 3
    row = s[(s["dataset"] == "dreamer") & (s["method"] == "ssl_frozen")].iloc[0]
    assert row["n_folds"] == 3
    assert row["accuracy_mean"] == pytest.approx(0.8)
    assert row["accuracy_std"] == pytest.approx(0.1)  # ddof=1
    assert row["f1_macro_pr_mean"] == pytest.approx(0.78)
    assert row["kappa_mean"] == pytest.approx(0.5)
    assert row["n_test"] == 30
    row = s[(s["dataset"] == "dreamer") & (s["method"] == "supervised")].iloc[0]
    assert row["accuracy_std"] == pytest.approx(np.std([0.4, 0.5], ddof=1))
    single = s[s["dataset"] == "wesad"].iloc[0]
    assert single["n_folds"] == 1
    assert math.isnan(single["accuracy_std"])


def test_paper_table_values():
    cell = PAPER_TABLE[("dreamer", "valence")]
    assert cell.n_classes == 5
    assert (cell.supervised_accuracy, cell.ssl_f1) == (0.666, 0.845)
    assert PAPER_TABLE[("swell", "stress")].ssl_accuracy == 0.933
    assert len(PAPER_TABLE) == 8


def test_paper_comparison_shows_paper_and_ours(metrics):
    text = paper_comparison(summarize(metrics))
    lines = text.splitlines()
    window_row = next(
        line
        for line in lines
        if line.startswith("| dreamer | valence | 5 / 5 | 10 / 3 |")
    )
    cells = [c.strip() for c in window_row.strip("|").split("|")]
    assert cells[4] == "0.666 / 0.658"  # paper fully supervised
    assert cells[5] == "—"  # we did not run supervised window_kfold
    assert cells[6] == "0.850 / 0.845"  # paper self-supervised
    assert cells[7] == "0.800 ± 0.100 / 0.780 / 0.750"  # ours ssl_frozen
    assert cells[9] == "0.300"
    subject_rows = [
        line for line in lines if line.startswith("| dreamer | valence | 5 | 2 |")
    ]
    assert len(subject_rows) == 1
    assert "0.450 ± 0.071" in subject_rows[0]
    assert "subject_kfold" in text
    assert "did not run" in text
    assert "`ssl_frozen` with `window_kfold`" in text
    # a paper row we have nothing for is all dashes on our side
    amigos = next(line for line in lines if line.startswith("| amigos | arousal | 9"))
    assert amigos.count("—") == 6


def test_paper_comparison_ignores_binary_scheme(tmp_path):
    rec = _record("wesad", "affect", "window_kfold", "ssl_frozen", 0, 0.99, "binary")
    text = paper_comparison(summarize(load_metrics(_write(tmp_path, [rec]))))
    assert "0.990" not in text


def test_plot_pretext_history(tmp_path):
    tasks = ["original", "noise", "scale", "negate", "flip", "permute", "time_warp"]
    hist = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.7, 0.5, 0.4],
            "val_loss": [0.72, 0.55, 0.45],
            "lr": [1e-3] * 3,
            "seconds": [10.0] * 3,
            "windows_per_s": [100.0] * 3,
            **{f"val_acc_{t}": [0.5, 0.7, 0.9] for t in tasks},
        }
    )
    tsv = tmp_path / "history.tsv"
    hist.to_csv(tsv, sep="\t", index=False)
    out = tmp_path / "fig" / "pretext.png"
    plot_pretext_history(tsv, out)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5000
    hist.drop(columns="val_loss").to_csv(tsv, sep="\t", index=False)
    with pytest.raises(DataFormatError, match="val_loss"):
        plot_pretext_history(tsv, out)


def test_plot_accuracy_by_method(tmp_path, metrics):
    out = tmp_path / "acc.png"
    plot_accuracy_by_method(summarize(metrics), out)
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert out.stat().st_size > 5000
    assert list(tmp_path.glob(".*.tmp")) == []


def test_plot_confusion_matrices(tmp_path, metrics):
    out = tmp_path / "cm.png"
    plot_confusion_matrices(metrics, out)
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert out.stat().st_size > 5000
    with pytest.raises(ValueError, match="binary"):
        plot_confusion_matrices(metrics, out, scheme="binary")

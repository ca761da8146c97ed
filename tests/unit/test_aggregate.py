"""Tests of metric aggregation, intervals, comparisons, the paper table and figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix

from ecgssl.evaluation.paper import PAPER_TABLE, paper_comparison
from ecgssl.evaluation.plots import (
    plot_accuracy_by_method,
    plot_confusion_matrices,
    plot_label_fractions,
    plot_pretext_history,
)
from ecgssl.evaluation.tables import (
    comparisons,
    load_metrics,
    load_predictions,
    subject_table,
    summarize,
)
from ecgssl.evaluation.uncertainty import (
    accuracy_of,
    balanced_accuracy_of,
    interval,
    paired_interval,
)
from ecgssl.util.errors import DataFormatError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _job(
    tmp_path,
    i,
    *,
    dataset="dreamer",
    label="valence",
    protocol="window_kfold",
    method="ssl_frozen",
    fold=0,
    acc=0.8,
    scheme="multiclass",
    fraction=1.0,
    subjects=("a", "b"),
    n_classes=None,
    seed=0,
):
    """One fold job: metrics.json and predictions.parquet with accuracy ``acc``."""
    n = n_classes or (5 if dataset == "dreamer" else 4)
    rng = np.random.default_rng(seed + i)
    per = 10
    y_true = np.tile(np.arange(n), len(subjects) * per)[: len(subjects) * per]
    correct = rng.permutation(y_true.size) < round(acc * y_true.size)
    y_pred = np.where(correct, y_true, (y_true + 1) % n)
    subj = np.repeat(list(subjects), per)
    folder = tmp_path / f"job{i}"
    folder.mkdir()
    pd.DataFrame(
        {
            "row": np.arange(y_true.size),
            "subject": subj,
            "y_true": y_true,
            "y_pred": y_pred,
        }
    ).to_parquet(folder / "predictions.parquet")
    encoder = method.startswith("ssl")
    record = {
        "dataset": dataset,
        "label": label,
        "scheme": scheme,
        "protocol": protocol,
        "method": method,
        "pretext": "default" if encoder else "none",
        "scope": "train_folds" if encoder else None,
        "feature_norm": "subject" if method.endswith("subject_norm") else "none",
        "label_fraction": fraction,
        "transductive": method.endswith("subject_norm"),
        "repeat": 0,
        "fold": fold,
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "macro_f1": acc - 0.05,
        "f1_macro_pr": acc - 0.02,
        "kappa": acc - 0.3,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=range(n)).tolist(),
        "majority_accuracy": 0.3,
        "test_majority_share": 0.35,
        "n_train": 90,
        "n_test": int(y_true.size),
        "n_classes": n,
        "class_names": [str(k + 1) for k in range(n)],
        "seed": 1234 + fold,
    }
    path = folder / "metrics.json"
    path.write_text(json.dumps(record))
    return path


@pytest.fixture
def run(tmp_path):
    """Three ssl_frozen folds and two supervised subject-wise folds, one WESAD job."""
    paths = [
        _job(tmp_path, 0, fold=0, acc=0.8),
        _job(tmp_path, 1, fold=1, acc=0.9),
        _job(tmp_path, 2, fold=2, acc=0.7),
        _job(
            tmp_path,
            3,
            protocol="subject_kfold",
            method="supervised",
            fold=0,
            acc=0.4,
            subjects=("s1", "s2"),
        ),
        _job(
            tmp_path,
            4,
            protocol="subject_kfold",
            method="supervised",
            fold=1,
            acc=0.5,
            subjects=("s3", "s4"),
        ),
        _job(
            tmp_path, 5, dataset="wesad", label="affect", method="supervised", acc=0.6
        ),
    ]
    metrics = load_metrics(paths)
    return metrics, load_predictions(metrics)


def test_load_metrics_one_row_per_file_and_scope_none_for_baselines(run):
    metrics, predictions = run
    assert len(metrics) == 6
    assert set(metrics.scope) == {"train_folds", "none"}
    assert len(predictions) == 3 * 20 + 2 * 20 + 20
    assert set(predictions.columns) >= {"subject", "y_true", "y_pred", "fold"}


def test_load_metrics_missing_key_names_file_and_key(tmp_path):
    path = _job(tmp_path, 0)
    record = json.loads(path.read_text())
    del record["label_fraction"]
    path.write_text(json.dumps(record))
    with pytest.raises(DataFormatError, match=r"job0/metrics.json.*'label_fraction'"):
        load_metrics([path])


def test_load_metrics_bad_json_and_duplicates(tmp_path):
    a, b = _job(tmp_path, 0), _job(tmp_path, 1)
    with pytest.raises(ValueError, match="same experiment and fold"):
        load_metrics([a, b])
    b.write_text("{not json")
    with pytest.raises(DataFormatError, match="<json>"):
        load_metrics([b])


def test_summarize_means_and_intervals(run):
    metrics, predictions = run
    s = summarize(metrics, predictions, n_bootstrap=500, seed=3)
    assert len(s) == 3
    row = s[(s.dataset == "dreamer") & (s.method == "ssl_frozen")].iloc[0]
    assert (row.n_folds, row.n_repeats, row.n_units) == (3, 1, 3)
    assert row.accuracy_mean == pytest.approx(0.8)
    assert row.accuracy_std == pytest.approx(0.1)  # ddof=1
    assert row.ci_over == "folds"
    assert row.accuracy_ci_low <= 0.8 <= row.accuracy_ci_high
    assert 0.7 - 1e-9 <= row.accuracy_ci_low < row.accuracy_ci_high <= 0.9 + 1e-9
    sub = s[(s.dataset == "dreamer") & (s.method == "supervised")].iloc[0]
    assert sub.ci_over == "subjects"
    assert sub.n_units == 4  # four test people over the two folds
    assert sub.accuracy_ci_low <= 0.45 <= sub.accuracy_ci_high
    single = s[s.dataset == "wesad"].iloc[0]
    assert math.isnan(single.accuracy_std)
    assert math.isnan(single.accuracy_ci_low)  # one fold: no interval
    again = summarize(metrics, predictions, n_bootstrap=500, seed=3)
    pd.testing.assert_frame_equal(s, again)  # seeded


def test_confusion_matrix_metrics_equal_scikit_learn():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    y_true[y_true == 3] = 2  # a class absent from the truth
    cm = confusion_matrix(y_true, y_pred, labels=range(4))
    assert accuracy_of(cm) == pytest.approx(accuracy_score(y_true, y_pred))
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        expected = balanced_accuracy_score(y_true, y_pred)
    assert balanced_accuracy_of(cm) == pytest.approx(expected)


def test_intervals_and_paired_differences():
    rng = np.random.default_rng(0)
    cms = rng.integers(0, 20, (10, 3, 3))
    a = interval(cms, n_resamples=300, seed=1)
    assert a == interval(cms, n_resamples=300, seed=1)
    assert a.low <= a.estimate <= a.high
    assert math.isnan(interval(cms[:1], n_resamples=300).low)
    same = paired_interval(cms, cms, n_resamples=300)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    better = cms.copy()
    better[:, np.arange(3), np.arange(3)] += 30  # more correct for everyone
    diff = paired_interval(better, cms, n_resamples=300)
    assert diff.low > 0
    with pytest.raises(ValueError, match="confidence"):
        interval(cms, confidence=1.0)


def test_comparisons_pair_methods_on_the_same_people(tmp_path):
    paths = []
    for fold, people in enumerate((("p1", "p2", "p3"), ("p4", "p5", "p6"))):
        for method, acc in (("supervised", 0.3), ("ssl_frozen", 0.9), ("hrv", 0.6)):
            paths.append(
                _job(
                    tmp_path,
                    len(paths),
                    protocol="subject_kfold",
                    method=method,
                    fold=fold,
                    acc=acc,
                    subjects=people,
                )
            )
    metrics = load_metrics(paths)
    table = comparisons(load_predictions(metrics), n_bootstrap=500)
    acc = table[table.metric == "accuracy"]
    vs_sup = acc[(acc.method == "ssl_frozen") & (acc.reference == "supervised")]
    assert vs_sup.iloc[0].verdict == "better"
    assert vs_sup.iloc[0].difference == pytest.approx(0.6, abs=0.02)
    assert vs_sup.iloc[0].n_units == 6
    vs_hrv = acc[(acc.method == "supervised") & (acc.reference == "hrv")]
    assert vs_hrv.iloc[0].verdict == "worse"
    assert not (acc.method == acc.reference).any()


def test_subject_table_matches_scikit_learn(run):
    metrics, predictions = run
    table = subject_table(predictions)
    part = predictions[
        (predictions.method == "supervised") & (predictions.subject == "s3")
    ]
    row = table[(table.method == "supervised") & (table.subject == "s3")].iloc[0]
    assert row.n_windows == len(part) == 10
    assert row.accuracy == pytest.approx(accuracy_score(part.y_true, part.y_pred))


def test_paper_table_values():
    cell = PAPER_TABLE[("dreamer", "valence")]
    assert cell.n_classes == 5
    assert (cell.supervised_accuracy, cell.ssl_f1) == (0.666, 0.845)
    assert PAPER_TABLE[("swell", "stress")].ssl_accuracy == 0.933
    assert len(PAPER_TABLE) == 8


def test_paper_comparison_maps_only_the_paper_faithful_setting(tmp_path):
    paths = [_job(tmp_path, i, fold=i, acc=0.8) for i in range(3)]
    # the same experiment but transductive, or with a tenth of the labels: not mapped
    paths += [
        _job(tmp_path, 3 + i, fold=i, acc=0.99, method="ssl_frozen_subject_norm")
        for i in range(3)
    ]
    paths += [_job(tmp_path, 6 + i, fold=i, acc=0.2, fraction=0.1) for i in range(3)]
    metrics = load_metrics(paths)
    text = paper_comparison(
        summarize(metrics, load_predictions(metrics), n_bootstrap=200)
    )
    row = next(
        line
        for line in text.splitlines()
        if line.startswith("| dreamer | valence | 5 / 5 | 10 / 3 |")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[6] == "0.850 / 0.845"  # paper self-supervised
    assert cells[7].startswith("0.800 [")  # ours ssl_frozen, with its interval
    assert "0.990" not in text
    assert "0.200" not in text
    assert "transductive" in text.lower()
    assert "train_folds" in text


def test_plot_pretext_history_of_several_units(tmp_path):
    tasks = ["original", "noise", "scale", "negate", "flip", "permute", "time_warp"]
    paths = []
    for unit in ("subject_kfold-fold0", "subject_kfold-fold1"):
        hist = pd.DataFrame(
            {
                "epoch": [1, 2, 3],
                "train_loss": [0.7, 0.5, 0.4],
                "val_loss": [0.72, 0.55, 0.45],
                "seconds": [10.0] * 3,
                **{f"val_bacc_{t}": [0.5, 0.7, 0.9] for t in tasks},
            }
        )
        path = tmp_path / f"{unit}.tsv"
        hist.to_csv(path, sep="\t", index=False)
        paths.append((unit, path))
    out = tmp_path / "fig" / "pretext.png"
    plot_pretext_history(paths, out)
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert out.stat().st_size > 5000
    hist.drop(columns="val_loss").to_csv(paths[0][1], sep="\t", index=False)
    with pytest.raises(DataFormatError, match="val_loss"):
        plot_pretext_history(paths, out)


def test_plots_of_the_summary(tmp_path, run):
    metrics, predictions = run
    summary = summarize(metrics, predictions, n_bootstrap=200)
    for plot, name in (
        (plot_accuracy_by_method, "acc.png"),
        (plot_label_fractions, "fractions.png"),
    ):
        out = tmp_path / name
        plot(summary, out)
        assert out.read_bytes().startswith(PNG_MAGIC)
        assert out.stat().st_size > 5000
    out = tmp_path / "cm.png"
    plot_confusion_matrices(metrics, out)
    assert out.stat().st_size > 5000
    with pytest.raises(ValueError, match="binary"):
        plot_confusion_matrices(metrics, out, scheme="binary")
    assert list(tmp_path.glob(".*.tmp*")) == []


def test_label_fraction_curve(tmp_path):
    paths = []
    for fraction, acc in ((0.1, 0.4), (0.5, 0.6), (1.0, 0.8)):
        for method in ("supervised", "ssl_frozen"):
            for fold in range(2):
                paths.append(
                    _job(
                        tmp_path,
                        len(paths),
                        protocol="subject_kfold",
                        method=method,
                        fold=fold,
                        fraction=fraction,
                        acc=acc,
                        subjects=(f"p{fold}a", f"p{fold}b"),
                    )
                )
    metrics = load_metrics(paths)
    summary = summarize(metrics, load_predictions(metrics), n_bootstrap=200)
    assert sorted(summary.label_fraction.unique()) == [0.1, 0.5, 1.0]
    out = tmp_path / "fractions.png"
    plot_label_fractions(summary, out)
    assert out.stat().st_size > 10000


def _pretext_unit(folder, real_rows=None):
    """A unit's encoder.json and history.tsv (and real_ecg.tsv when given)."""
    folder.mkdir(parents=True)
    meta = {
        "unit": {"scope": "train_folds", "protocol": "subject_kfold", "fold": 0},
        "precision": "bf16", "epochs_trained": 2, "n_train_windows": 40,
        "n_val_windows": 8, "val_balanced_accuracy": {"negate": 1.0, "noise": 0.5},
        "val_top1": 0.4, "not_learned": ["noise"],
    }  # fmt: skip
    (folder / "encoder.json").write_text(json.dumps(meta))
    pd.DataFrame({"epoch": [1, 2], "seconds": [3.0, 4.0],
                  "windows_per_s": [10.0, 12.0]}).to_csv(
        folder / "history.tsv", sep="\t", index=False)  # fmt: skip
    if real_rows is not None:
        pd.DataFrame(real_rows).to_csv(folder / "real_ecg.tsv", sep="\t", index=False)
    return folder / "encoder.json"


def test_pretext_table_with_the_real_ecg_check(tmp_path):
    from ecgssl.learning.pretext.transfer import ALL_REFERENCES
    from ecgssl.stages import aggregate

    assert aggregate.ALL_REFERENCES == ALL_REFERENCES  # the stage cannot import it
    rows = [
        {"recording": "mitbih_208", "negate": 1.0, "flip": 0.8, "mean": 0.9},
        {"recording": "plux_rest", "negate": 0.9, "flip": 0.6, "mean": 0.75},
        {"recording": ALL_REFERENCES, "negate": 0.95, "flip": 0.7, "mean": 0.825},
    ]
    checked = _pretext_unit(tmp_path / "default" / "subject_kfold-fold0", rows)
    unchecked = _pretext_unit(tmp_path / "default" / "subject_kfold-fold1")
    table = aggregate.pretext_table(
        [checked, unchecked], [checked.with_name("real_ecg.tsv")]
    )
    first, second = table.iloc[0], table.iloc[1]
    assert (first.pretext, first.unit) == ("default", "subject_kfold-fold0")
    assert (first.real_bacc_negate, first.real_bacc_flip) == (0.95, 0.7)
    assert first.real_ecg_mean == 0.825
    assert first.real_ecg_recordings == "mitbih_208,plux_rest"
    assert first.val_bacc_negate == 1.0
    assert first.not_learned == "noise"
    assert first.seconds == 7.0
    assert first.windows_per_s == 11.0
    assert math.isnan(second.real_ecg_mean)  # not checked: empty, not invented
    # a check without the pooled row is refused, naming the file and the field
    pd.DataFrame(rows[:2]).to_csv(checked.with_name("real_ecg.tsv"), sep="\t",
                                  index=False)  # fmt: skip
    with pytest.raises(DataFormatError, match="real_ecg.tsv.*recording"):
        aggregate.pretext_table([checked], [checked.with_name("real_ecg.tsv")])

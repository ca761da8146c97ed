"""A tiny end-to-end Snakemake run on synthetic data in the native formats."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ecgssl.store import read_ecg, read_metadata, read_windows

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"

TINY = {
    "seed": 7,
    "datasets": {
        "dreamer": {
            "source": "synthetic",
            "synthetic": {"n_subjects": 2, "n_trials": 2, "stimulus_s": [25, 35],
                          "baseline_s": 21},
        },
        "wesad": {"source": "synthetic", "synthetic": {"n_subjects": 2, "phase_s": 30}},
        "amigos": {
            "source": "synthetic",
            "synthetic": {"n_subjects": 2, "n_trials": 3, "trial_s": [25, 35]},
        },
        "swell": {"source": "synthetic", "synthetic": {"n_subjects": 2, "block_s": 30}},
    },
}

LABELS = {
    "dreamer": ["arousal", "valence", "dominance"],
    "wesad": ["affect"],
    "amigos": ["arousal", "valence"],
    "swell": ["stress", "arousal", "valence"],
}


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(workdir / "config.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    proc = _snakemake(workdir, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.slow
def test_every_dataset_gets_a_store_and_qc(finished_run):
    for dataset, labels in LABELS.items():
        store = finished_run / "results" / "windows" / f"{dataset}.parquet"
        df = read_windows(store)
        assert len(df) > 0
        assert list(df.columns) == ["dataset", "subject", "trial", "window", "start_s",
                                    *labels]
        assert (df.dataset == dataset).all() and df.subject.nunique() == 2
        assert read_ecg(store).shape == (len(df), 2560)
        meta = read_metadata(store)
        assert meta["fs"] == 256.0 and meta["inputs"]
        qc = pd.read_csv(finished_run / "results" / "qc" / f"{dataset}.tsv", sep="\t")
        assert qc.n_kept.sum() == len(df)
        assert any(df[c].notna().any() for c in labels)
    # the synthetic AMIGOS quirks are counted, not silently lost
    qc = pd.read_csv(finished_run / "results" / "qc" / "amigos.tsv", sep="\t")
    assert (qc.status == "empty").any()
    assert qc.n_nan.sum() > 0


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


def test_config_mistakes_fail_before_any_job(tmp_path):
    bad = {"datasets": {"dreamer": {"source": "synthetic", "sorce": "raw"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    proc = _snakemake(tmp_path, "--cores", "1", "--dry-run")
    assert proc.returncode != 0
    assert "sorce" in proc.stdout + proc.stderr
    missing = {"datasets": {"dreamer": {"source": "raw", "path": str(tmp_path / "nope")}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(missing))
    proc = _snakemake(tmp_path, "--cores", "1", "--dry-run")
    assert proc.returncode != 0
    assert "datasets.dreamer.path" in proc.stdout + proc.stderr

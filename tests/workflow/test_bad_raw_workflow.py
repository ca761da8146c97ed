"""Broken or hostile raw downloads, run through the workflow as a user would.

Each case must fail the job with a non-zero exit and an error naming the file and
the field, leave no window store or QC table behind, and never run code from the
data.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import yaml
from _snakemake import run_snakemake

from ecgssl.data.datasets import write_synthetic


class _Payload:
    """Unpickling this calls ``func(*args)``: what a malicious pickle does."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _truncate(path: Path) -> str:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "truncated"


def _hostile(path: Path) -> str:
    marker = path.parent / "pwned"
    blob = {"signal": {}, "label": [], "subject": "S2"}
    blob["evil"] = _Payload(os.system, f"touch {marker}")
    path.write_bytes(pickle.dumps(blob, protocol=2))
    return "forbidden global"


CASES = {
    # dataset: (writer options, file to damage, damage, expected field)
    "dreamer_truncated": (
        "dreamer",
        {"n_subjects": 1, "n_trials": 1, "stimulus_s": [20, 20], "baseline_s": 11},
        "DREAMER.mat",
        _truncate,
        "file",
    ),
    "wesad_hostile_pickle": (
        "wesad",
        {"n_subjects": 1, "phase_s": 20},
        "S2/S2.pkl",
        _hostile,
        "pickle global",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_raw_file_fails_the_job_cleanly(tmp_path, case):
    dataset, options, name, damage, field = CASES[case]
    raw = tmp_path / "raw" / dataset
    write_synthetic(dataset, raw, seed=1, **options)
    target = raw / name
    assert target.exists(), sorted(p.name for p in raw.rglob("*"))
    needle = damage(target)
    config = {"seed": 1, "datasets": {dataset: {"source": "raw", "path": str(raw)}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "--cores", "1", f"results/windows/{dataset}.parquet")
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "window_dataset" / f"{dataset}.log").read_text()
    assert str(target) in log, log[-2000:]
    assert f"field '{field}'" in log, log[-2000:]
    assert needle in log, log[-2000:]
    assert not (tmp_path / "results" / "windows" / f"{dataset}.parquet").exists()
    assert not (tmp_path / "results" / "qc" / f"{dataset}.tsv").exists()
    assert not list((tmp_path / "results").rglob("*.tmp*"))
    assert not (target.parent / "pwned").exists()


def test_configured_label_without_source_fails_before_any_training(tmp_path):
    """A SWELL download without its condition table: the store is built (it does not
    depend on the configured labels), then the label check fails for ``stress``
    with one line naming the dataset, the label and the reason; nothing is
    trained."""
    raw = tmp_path / "raw" / "swell"
    write_synthetic("swell", raw, seed=1, n_subjects=2, block_s=30.0)
    (raw / "SWELL-KW - overview available data.xlsx").unlink()
    config = {
        "seed": 1,
        "datasets": {"swell": {"source": "raw", "path": str(raw)}},
        "labels": {"swell": {"stress": {"schemes": ["multiclass"]}}},
        "pretext": {"epochs": 1, "batch_size": 8},
        "finetune": {
            "methods": ["supervised"],
            "protocols": {"subject_kfold": {"n_folds": 2}},
            "supervised": {"epochs": 1},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "--cores", "1")
    assert proc.returncode != 0
    text = (tmp_path / "logs" / "check_label" / "swell" / "stress.log").read_text()
    line = "swell: label 'stress' has no labelled window: no condition table found"
    assert line in text, text[-2000:]
    assert line in proc.stderr
    assert (tmp_path / "results" / "windows" / "swell.parquet").exists()
    assert not (tmp_path / "results" / "labels" / "swell" / "stress.json").exists()
    assert not (tmp_path / "results" / "pretext").exists()  # the check goes first
    assert not (tmp_path / "results" / "finetune").exists()

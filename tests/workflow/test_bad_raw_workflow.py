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

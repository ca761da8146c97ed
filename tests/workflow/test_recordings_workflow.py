"""Recordings datasets through the whole workflow: a synthetic WFDB copy (labelled)
and a folder of EDF files given as the user's own (source recordings, unlabelled,
pretext only) go through window stores, pretext training, fine-tuning and tables;
replacing one recording file reruns its store; the encoder exports with its card."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _snakemake import REPO, run_snakemake

from ecgssl.cli import main
from ecgssl.data.datasets import write_synthetic
from ecgssl.data.store import read_windows

pytestmark = pytest.mark.slow


def _config(clinic: Path) -> dict:
    """``.test/config-recordings.yaml`` plus the clinic's folder of EDF files."""
    config = yaml.safe_load((REPO / ".test" / "config-recordings.yaml").read_text())
    config["datasets"]["clinic"] = {
        "source": "recordings",
        "path": str(clinic),
        "reader": {"files": "**/*.edf", "channel_pattern": "ecg*"},
    }
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    pytest.importorskip("edfio")
    root = tmp_path_factory.mktemp("recordings-workflow")
    clinic = root / "clinic"
    write_synthetic("clinic", clinic, seed=9, format="edf", n_subjects=2,
                    n_recordings=1, recording_s=40)  # fmt: skip
    (clinic / "labels.csv").unlink()  # the clinic's recordings are unlabelled
    work = root / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(_config(clinic)))
    proc = run_snakemake(work, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    yield {"work": work, "clinic": clinic}
    shutil.rmtree(root, ignore_errors=True)


def test_stores_tables_and_export(finished, tmp_path, capsys):
    results = finished["work"] / "results"
    lab = read_windows(results / "windows" / "lab.parquet")
    assert list(lab.columns) == [
        "dataset", "subject", "trial", "window", "start_s", "condition",
    ]  # fmt: skip
    assert lab.subject.nunique() == 4
    assert set(lab.condition.dropna()) == {0.0, 1.0}
    clinic = read_windows(results / "windows" / "clinic.parquet")
    assert list(clinic.columns) == ["dataset", "subject", "trial", "window", "start_s"]
    assert sorted(clinic.subject.unique()) == ["sub-01_rec-1", "sub-02_rec-1"]
    meta = json.loads((results / "pretext" / "default" / "all" / "encoder.json")
                      .read_text())  # fmt: skip
    assert {Path(i["store"]).stem for i in meta["inputs"]} == {"lab", "clinic"}
    summary = pd.read_csv(results / "tables" / "summary.tsv", sep="\t")
    assert summary[["dataset", "label", "method"]].values.tolist() == [
        ["lab", "condition", "ssl_frozen"]
    ]
    assert summary.n_folds.eq(2).all()
    out = tmp_path / "export"
    model = results / "pretext" / "default" / "all" / "encoder.pt"
    assert main(["export", "--model", str(model), "--output", str(out)]) == 0
    card = (out / "MODEL_CARD.md").read_text()
    assert "| lab | synthetic |" in card
    assert "| clinic | recordings |" in card
    assert "clinic: the user's own recordings" in card
    assert "| lab | condition | multiclass | subject_kfold | ssl_frozen |" in card
    capsys.readouterr()


def test_a_replaced_recording_reruns_its_store(finished, tmp_path):
    work, clinic = finished["work"], finished["clinic"]
    other = tmp_path / "other"
    write_synthetic("clinic", other, seed=10, format="edf", n_subjects=2,
                    n_recordings=1, recording_s=40)  # fmt: skip
    name = Path("sub-02") / "sub-02_rec-1.edf"
    shutil.copyfile(other / name, clinic / name)  # another recording, same name
    proc = run_snakemake(work, "--cores", "1", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "Job stats:" in out, out[-3000:]
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    jobs = Counter(
        {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
    )
    assert jobs["window_dataset"] == 1
    assert jobs["synthesize_dataset"] == 0
    assert jobs["pretrain_encoder"] == 1

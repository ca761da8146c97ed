"""``ecgssl export`` (encoder, model card, settings, example) and the command line on
recording files (EDF/WFDB ...) instead of ``.npy``."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ecgssl.cli import main
from ecgssl.data.datasets import open_reader, reader_options, write_synthetic
from ecgssl.data.preprocess import PreprocessConfig, build_window_store
from ecgssl.learning.modelfile import load_encoder
from ecgssl.stages.pretext import pretext_stage

wfdb = pytest.importorskip("wfdb")

TINY = {
    "epochs": 1,
    "batch_size": 8,
    "encoder": {"filters": [4, 4, 8], "kernels": [8, 4, 4]},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A workflow folder: a recordings store, one encoder unit, the tables."""
    root = tmp_path_factory.mktemp("project")
    raw = root / "resources" / "synthetic" / "lab"
    write_synthetic("lab", raw, seed=3, format="wfdb", n_subjects=3, n_recordings=1,
                    recording_s=40)  # fmt: skip
    options = reader_options("lab", {"source": "synthetic"})
    store = root / "results" / "windows" / "lab.parquet"
    build_window_store(
        open_reader("lab", raw, options), root=raw, store_path=store,
        qc_path=root / "results" / "qc" / "lab.tsv", config=PreprocessConfig(),
    )  # fmt: skip
    unit_dir = root / "results" / "pretext" / "tiny" / "all"
    pretext_stage(
        [store], unit={"scope": "all", "protocol": None, "fold": None,
                       "dataset": None},
        model_path=unit_dir / "encoder.pt", sidecar_path=unit_dir / "encoder.json",
        history_path=unit_dir / "history.tsv",
        windows_path=unit_dir / "windows.parquet", config=TINY, seed=1,
        device="cpu", precision="fp32",
    )  # fmt: skip
    tables = root / "results" / "tables"
    tables.mkdir(parents=True)
    row = {"dataset": "lab", "label": "condition", "scheme": "multiclass",
           "protocol": "subject_kfold", "method": "ssl_frozen", "pretext": "tiny",
           "label_fraction": 1.0, "fold": 0, "accuracy": 0.8125,
           "balanced_accuracy": 0.75, "majority_accuracy": 0.5, "n_test": 8,
           "unit": "all"}  # fmt: skip
    other = {**row, "fold": 1, "accuracy": 0.1, "unit": "subject_kfold-fold1"}
    pd.DataFrame([row, other]).to_csv(tables / "folds.tsv", sep="\t", index=False)
    (tables / "config.json").write_text(
        json.dumps({"datasets": {"lab": {"source": "synthetic"}}})
    )
    return {"root": root, "model": unit_dir / "encoder.pt", "raw": raw}


def _export(capsys, model: Path, out: Path) -> tuple[int, str, str]:
    code = main(["export", "--model", str(model), "--output", str(out)])
    stdout, err = capsys.readouterr()
    return code, stdout, err


def test_export_writes_weights_card_settings_and_example(project, tmp_path, capsys):
    out = tmp_path / "export"
    code, stdout, err = _export(capsys, project["model"], out)
    assert code == 0, err
    assert set(json.loads(stdout)["files"]) == {p.name for p in out.iterdir()}
    # weights: plain tensors, loadable without unpickling code; same network
    obj = torch.load(out / "encoder.pt", weights_only=True)
    assert obj["backbone"] == "paper_cnn"
    x = torch.randn(2, 1, 2560)
    with torch.no_grad():
        same = load_encoder(out / "encoder.pt")(x), load_encoder(project["model"])(x)
    torch.testing.assert_close(*same)
    settings = json.loads((out / "preprocess.json").read_text())
    assert settings["fs"] == 256.0
    assert settings["filter"]["kind"] == "highpass"

    card = (out / "MODEL_CARD.md").read_text()
    windows = pd.read_parquet(project["model"].with_name("windows.parquet"))
    meta = json.loads(project["model"].with_suffix(".json").read_text())
    n_train = int((windows.part == "training").sum())
    n_val = int((windows.part == "validation").sum())
    line = f"| lab | synthetic | {len(windows)} | 3 | {n_train} | {n_val} | 7 |"
    assert line in card  # windows, subjects, parts, files (3 x .hea + .dat, csv)
    for needle in (
        "Resampled to 256 Hz", "0.8 Hz high-pass", "transformation recognition",
        "`paper_cnn`", "precision: fp32", "epochs: 1 trained of 1 configured",
        f"| original | {meta['val_accuracy']['original']:.3f} |",
        "| lab | condition | multiclass | subject_kfold | ssl_frozen | 1.000 | 1 | "
        "0.812 | 0.750 | 0.500 | 8 |",
        "lab: synthetic copy written by ecgssl", "Not a medical device",
        "torch.load(\"encoder.pt\", weights_only=True)",
    ):  # fmt: skip
        assert needle in card, needle
    assert "0.100" not in card  # the row of another encoder unit is not this one's
    assert (out / "example.py").read_text().strip() in card


def test_example_embeds_a_recording(project, tmp_path, capsys, monkeypatch):
    out = tmp_path / "export"
    assert _export(capsys, project["model"], out)[0] == 0
    record = project["raw"] / "sub-01" / "sub-01_rec-1.hea"
    monkeypatch.chdir(out)
    monkeypatch.setattr(sys, "argv", ["example.py", str(record)])
    runpy.run_path(str(out / "example.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert f"{record}: channel ECG, 4 windows x 8 features" in printed


def test_export_of_a_bad_model_writes_nothing(tmp_path, capsys):
    junk = tmp_path / "encoder.pt"
    junk.write_bytes(b"not torch")
    out = tmp_path / "export"
    code, stdout, err = _export(capsys, junk, out)
    assert code == 2
    assert stdout == ""
    assert "not a torch file" in err
    assert not out.exists()
    code, _, err = _export(capsys, tmp_path / "missing.pt", out)
    assert code == 2
    assert "missing.pt" in err


def test_features_read_recording_files(project, tmp_path, capsys):
    record = project["raw"] / "sub-02" / "sub-02_rec-1.hea"
    signal = wfdb.rdrecord(str(record.with_suffix(""))).p_signal[:, 0]
    np.save(tmp_path / "ecg.npy", signal)
    outputs = {}
    for name, argv in {
        "npy": ["--input", str(tmp_path / "ecg.npy"), "--fs", "250"],
        "wfdb": ["--input", str(record), "--channel", "ECG"],
        "by_type": ["--input", str(record)],
    }.items():
        out = tmp_path / f"{name}.npy"
        code = main(["features", "--model", str(project["model"]), *argv,
                     "--output", str(out), "--device", "cpu"])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert json.loads(captured.out)["n_windows"] == 4
        outputs[name] = np.load(out)
    np.testing.assert_array_equal(outputs["npy"], outputs["wfdb"])
    np.testing.assert_array_equal(outputs["npy"], outputs["by_type"])
    code = main(["pretext-check", "--model", str(project["model"]), "--input",
                 str(record), "--device", "cpu"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["n_windows"] == 4


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--fs", "500"], "header gives 250 Hz, expected 500 Hz"),
        (["--channel", "II"], "no channel named 'II' (channels: ECG)"),
        (["--channel-pattern", "EEG*"], "no channel matching 'EEG*'"),
    ],
)
def test_recording_input_errors_name_the_file(project, tmp_path, capsys, extra,
                                              needle):  # fmt: skip
    record = project["raw"] / "sub-01" / "sub-01_rec-1.hea"
    out = tmp_path / "f.npy"
    code = main(["features", "--model", str(project["model"]), "--input",
                 str(record), "--output", str(out), *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert str(record) in err
    assert needle in err
    assert not out.exists()

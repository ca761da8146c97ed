"""Tests of the ``ecgssl`` command line (features and pretext-check; export is in
test_export.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgssl import __version__
from ecgssl.cli import main
from ecgssl.data.preprocess import prepare_windows
from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.features import extract_features
from ecgssl.learning.modelfile import load_encoder, save_encoder, save_pretext_model
from ecgssl.learning.pretext.transformation_recognition import (
    PretextHeads,
    PretextNet,
    evaluate,
)
from ecgssl.learning.pretrain import PretextConfig
from ecgssl.learning.transforms import TASKS, TransformParams

FS = 500.0
SMALL = {"filters": (4, 4, 8), "kernels": (8, 4, 4)}
STORED = {"snr_db": 10.0, "scale": 1.3, "permute_pieces": 16, "warp_pieces": 8}


def _models(root: Path, transforms: dict | None = None) -> tuple[Path, Path]:
    g = torch.Generator().manual_seed(1)
    encoder = PaperCNN(generator=g, **SMALL)
    heads = PretextHeads(n_features=8, hidden=8, generator=g)
    full = root / "model.pt"
    meta = {} if transforms is None else {"config": {"transforms": transforms}}
    save_pretext_model(full, encoder, heads, meta)
    bare = root / "encoder.pt"
    save_encoder(bare, encoder)
    return full, bare


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny models and ~40 s of synthetic ECG at 500 Hz (written once)."""
    root = tmp_path_factory.mktemp("cli")
    full, bare = _models(root, STORED)
    rng = np.random.default_rng(3)
    x = simulate_ecg(
        draw_subject(rng), duration_s=41.0, fs=FS, arousal=0.5, valence=0.5, rng=rng
    )
    rec = root / "ecg.npy"
    np.save(rec, x)
    return {"model": full, "encoder": bare, "ecg": rec, "root": root}


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _features_argv(model: Path, inp: Path, out: Path, fs: float = FS) -> list[str]:
    return [
        "features",
        "--model",
        str(model),
        "--input",
        str(inp),
        "--fs",
        str(fs),
        "--output",
        str(out),
        "--device",
        "cpu",
    ]


def _check_argv(model: Path, inp: Path, seed: int = 0) -> list[str]:
    return [
        "pretext-check",
        "--model",
        str(model),
        "--input",
        str(inp),
        "--fs",
        str(FS),
        "--seed",
        str(seed),
        "--device",
        "cpu",
    ]


def _assert_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ecgssl: error:")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_features_recording_matches_library(files, tmp_path, capsys) -> None:
    out = tmp_path / "feats.npy"
    code, stdout, stderr = _run(
        capsys, _features_argv(files["encoder"], files["ecg"], out)
    )
    assert code == 0, stderr
    assert stderr == ""
    summary = json.loads(stdout)
    assert stdout.count("\n") == 1
    feats = np.load(out, allow_pickle=False)
    x = np.load(files["ecg"])
    windows = prepare_windows(x, fs=FS)
    expected = extract_features(load_encoder(files["encoder"]), windows)
    assert windows.shape[0] == 4
    assert feats.dtype == np.float32
    assert feats.shape == (4, 8)
    np.testing.assert_array_equal(feats, expected)
    assert summary == {"n_windows": 4, "n_features": 8, "output": str(out)}
    # the file holding the heads works as an encoder too; no stray temporary files
    out2 = tmp_path / "feats2.npy"
    assert main(_features_argv(files["model"], files["ecg"], out2)) == 0
    np.testing.assert_array_equal(np.load(out2), feats)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.npy", "feats2.npy"]


def test_features_output_name_kept_and_folder_created(files, tmp_path, capsys) -> None:
    out = tmp_path / "new" / "deeper" / "features.bin"
    code, _, stderr = _run(capsys, _features_argv(files["encoder"], files["ecg"], out))
    assert code == 0, stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["features.bin"]
    assert np.load(out).shape == (4, 8)


def test_features_windows_input(files, tmp_path, capsys) -> None:
    x = np.load(files["ecg"])
    n = int(10 * FS)
    rows = np.stack([x[i * n : (i + 1) * n] for i in range(3)]).astype(np.float32)
    inp = tmp_path / "windows.npy"
    np.save(inp, rows)
    out = tmp_path / "f.npy"
    code, stdout, stderr = _run(capsys, _features_argv(files["encoder"], inp, out))
    assert code == 0, stderr
    assert json.loads(stdout)["n_windows"] == 3
    expected = extract_features(
        load_encoder(files["encoder"]), prepare_windows(rows, fs=FS)
    )
    np.testing.assert_array_equal(np.load(out), expected)
    # integer input is accepted as well (converted like the library does)
    ints = tmp_path / "ints.npy"
    np.save(ints, np.round(rows * 1000).astype(np.int16))
    assert main(_features_argv(files["encoder"], ints, tmp_path / "g.npy")) == 0
    assert np.load(tmp_path / "g.npy").shape == (3, 8)


def test_verbose_logs_to_stderr_only(files, tmp_path, capsys) -> None:
    out = tmp_path / "f.npy"
    code, stdout, stderr = _run(
        capsys, ["-v", *_features_argv(files["encoder"], files["ecg"], out)]
    )
    assert code == 0
    json.loads(stdout)  # stdout stays one JSON document
    assert "windows" in stderr


def test_pretext_check_json_and_determinism(files, capsys) -> None:
    code, stdout, stderr = _run(capsys, _check_argv(files["model"], files["ecg"], 7))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert list(result) == [
        "accuracy", "balanced_accuracy", "top1", "not_learned", "n_windows",
    ]  # fmt: skip
    assert list(result["accuracy"]) == list(TASKS)
    assert list(result["balanced_accuracy"]) == list(TASKS)
    assert 0.0 <= result["top1"] <= 1.0
    assert set(result["not_learned"]) <= set(TASKS[1:])
    assert result["n_windows"] == 4
    for value in result["accuracy"].values():
        assert isinstance(value, float)
        assert 0.0 <= value <= 1.0
        assert value == round(value, 4)
        # accuracy over 7 * 4 = 28 signals
        assert round(value * 28) == pytest.approx(value * 28, abs=2e-3)
    again = _run(capsys, _check_argv(files["model"], files["ecg"], 7))[1]
    assert again == stdout


def test_pretext_check_matches_training_validation(files, capsys) -> None:
    """Same accuracy definition, stored transform parameters and draws as evaluate."""
    seed = 5
    code, stdout, _ = _run(capsys, _check_argv(files["model"], files["ecg"], seed))
    assert code == 0
    got = json.loads(stdout)
    g = torch.Generator().manual_seed(1)
    encoder = PaperCNN(generator=g, **SMALL)
    heads = PretextHeads(n_features=8, hidden=8, generator=g)
    windows = prepare_windows(np.load(files["ecg"]), fs=FS)
    scores = evaluate(
        PretextNet(encoder, heads),
        [torch.from_numpy(windows[i : i + 64]) for i in range(0, len(windows), 64)],
        params=TransformParams(**STORED),
        weights=PretextConfig().task_weights,
        l2=0.0,
        generator=torch.Generator().manual_seed(seed),
        device=torch.device("cpu"),
    )
    assert got["accuracy"] == {t: round(a, 4) for t, a in scores.accuracy.items()}
    assert got["balanced_accuracy"] == {
        t: round(a, 4) for t, a in scores.balanced_accuracy.items()
    }


def test_pretext_check_uses_stored_transform_params(files, tmp_path, capsys) -> None:
    model, _ = _models(tmp_path, {"permute_pieces": 10**6})
    code, out, err = _run(capsys, _check_argv(model, files["ecg"]))
    _assert_error(code, out, err, str(model), "permute_pieces")
    model, _ = _models(tmp_path, {"scale": -1.0})
    code, out, err = _run(capsys, _check_argv(model, files["ecg"]))
    _assert_error(code, out, err, str(model), "meta.config.transforms", "scale")


def test_pretext_check_without_stored_params_uses_defaults(
    files, tmp_path, capsys
) -> None:
    model, _ = _models(tmp_path, None)
    code, stdout, stderr = _run(capsys, _check_argv(model, files["ecg"]))
    assert code == 0, stderr
    assert json.loads(stdout)["n_windows"] == 4


def test_pretext_check_needs_heads(files, capsys) -> None:
    code, out, err = _run(capsys, _check_argv(files["encoder"], files["ecg"]))
    _assert_error(code, out, err, str(files["encoder"]), "heads")


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ecgssl {__version__}\n"


def _bad_inputs(root: Path) -> dict[str, tuple[Path, str]]:
    """Input files and a fragment the error message must contain."""
    cases: dict[str, tuple[Path, str]] = {}

    def save(name: str, arr: np.ndarray, needle: str) -> None:
        path = root / f"{name}.npy"
        np.save(path, arr)
        cases[name] = (path, needle)

    save("3d", np.zeros((2, 3, 5000)), "shape")
    save("empty", np.zeros(0), "shape")
    save("empty2d", np.zeros((0, 5000)), "shape")
    save("strings", np.array(["a", "b"]), "dtype")
    save("complex", np.ones(20000, dtype=complex), "dtype")
    save("bool", np.ones(20000, dtype=bool), "dtype")
    save("short", np.sin(np.arange(2000) / 20.0), "window")
    save("bad_window_length", np.random.default_rng(0).normal(size=(2, 4000)), "10 s")
    save("flat", np.zeros(30000), "no usable window")
    save("nan_windows", np.full((2, 5000), np.nan), "window 0")
    text = root / "ecg.csv"
    text.write_text("1,2,3\n")
    cases["csv"] = (text, "unknown recording format '.csv'")
    npz = root / "ecg.npz"
    np.savez(npz, x=np.zeros(20000))
    cases["npz"] = (npz, "unknown recording format '.npz'")
    trunc = root / "truncated.npy"
    np.save(trunc, np.zeros(20000))
    trunc.write_bytes(trunc.read_bytes()[:500])
    cases["truncated"] = (trunc, "unreadable")
    cases["missing"] = (root / "nope.npy", "nope.npy")
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "3d",
        "empty",
        "empty2d",
        "strings",
        "complex",
        "bool",
        "short",
        "bad_window_length",
        "flat",
        "nan_windows",
        "csv",
        "npz",
        "truncated",
        "missing",
    ],
)
def test_bad_input_is_a_clear_error(files, tmp_path, capsys, case) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path, needle = _bad_inputs(inputs)[case]
    outdir = tmp_path / "out"
    outdir.mkdir()  # the output folder exists: still nothing may be left in it
    code, out, err = _run(
        capsys, _features_argv(files["encoder"], path, outdir / "f.npy")
    )
    _assert_error(code, out, err, str(path), needle)
    assert list(outdir.iterdir()) == []
    code, out, err = _run(capsys, _check_argv(files["model"], path))
    _assert_error(code, out, err, str(path), needle)


class _Boom:
    """Unpickling this creates a directory: proof that the pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickled_input_is_refused_without_unpickling(files, tmp_path, capsys) -> None:
    marker = tmp_path / "unpickled"
    evil = tmp_path / "evil.npy"
    arr = np.empty(1, dtype=object)
    arr[0] = _Boom(marker)
    np.save(evil, arr, allow_pickle=True)
    out = tmp_path / "f.npy"
    code, stdout, err = _run(capsys, _features_argv(files["encoder"], evil, out))
    _assert_error(code, stdout, err, str(evil), "pickle")
    assert not marker.exists()
    assert not out.exists()
    # the marker would have appeared, had the file been unpickled
    np.load(evil, allow_pickle=True)
    assert marker.is_dir()


def test_bad_model_is_a_clear_error(files, tmp_path, capsys) -> None:
    out = tmp_path / "f.npy"
    missing = tmp_path / "missing.pt"
    code, stdout, err = _run(capsys, _features_argv(missing, files["ecg"], out))
    _assert_error(code, stdout, err, "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not torch")
    code, stdout, err = _run(capsys, _features_argv(junk, files["ecg"], out))
    _assert_error(code, stdout, err, str(junk), "state_dict")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    code, stdout, err = _run(capsys, _features_argv(other, files["ecg"], out))
    _assert_error(code, stdout, err, str(other), "not an encoder file")
    code, stdout, err = _run(capsys, _check_argv(other, files["ecg"]))
    _assert_error(code, stdout, err, str(other), "not an encoder file")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "junk.pt",
        "other.pt",
    ]


@pytest.mark.parametrize(
    ("fs", "needle"),
    [("0", "--fs"), ("-250", "--fs"), ("nan", "--fs"), ("abc", "--fs")],
)
def test_bad_fs(files, tmp_path, capsys, fs, needle) -> None:
    out = tmp_path / "f.npy"
    code, stdout, err = _run(
        capsys, _features_argv(files["encoder"], files["ecg"], out, fs=fs)
    )
    _assert_error(code, stdout, err, needle)
    assert not out.exists()


def test_missing_arguments_and_bad_options(files, tmp_path, capsys) -> None:
    out = tmp_path / "f.npy"
    argv = _features_argv(files["encoder"], files["ecg"], out)
    no_fs = argv[:5] + argv[7:]
    assert "--fs" not in no_fs
    code, stdout, err = _run(capsys, no_fs)
    _assert_error(code, stdout, err, "--fs")
    code, stdout, err = _run(capsys, [*argv, "--batch-size", "0"])
    _assert_error(code, stdout, err, "--batch-size")
    code, stdout, err = _run(capsys, [*argv[:-1], "tpu"])
    _assert_error(code, stdout, err, "--device")
    code, stdout, err = _run(capsys, [*_check_argv(files["model"], files["ecg"])[:-4]])
    assert code == 0  # defaults: seed 0, device auto
    code, stdout, err = _run(capsys, [])
    _assert_error(code, stdout, err, "required")
    code, stdout, err = _run(capsys, ["frobnicate"])
    _assert_error(code, stdout, err, "frobnicate")
    assert not out.exists()


def test_output_that_is_a_folder(files, tmp_path, capsys) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    code, stdout, err = _run(
        capsys, _features_argv(files["encoder"], files["ecg"], out)
    )
    _assert_error(code, stdout, err, "taken")
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_console_script(files, tmp_path) -> None:
    """One run of the installed script (a fresh process importing torch: slowish)."""
    exe = Path(sys.executable).with_name("ecgssl")
    if not exe.exists():
        pytest.skip("console script not installed (pip install -e .)")
    out = tmp_path / "f.npy"
    done = subprocess.run(
        [str(exe), *_features_argv(files["encoder"], files["ecg"], out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["n_windows"] == 4
    assert np.load(out).shape == (4, 8)


@pytest.mark.parametrize(
    ("backbone", "params"),
    [
        ("resnet1d18", {"widths": [4, 8], "kernels": [7, 3], "blocks": 1}),
        ("patch_transformer", {"patch": 64, "dim": 8, "depth": 1, "heads": 2}),
    ],
)
def test_features_and_check_of_other_backbones_and_methods(
    files, tmp_path, capsys, backbone, params
) -> None:
    from ecgssl.learning.backbones import build_backbone
    from ecgssl.learning.pretext.contrastive import ProjectionHead

    g = torch.Generator().manual_seed(2)
    encoder = build_backbone(backbone, params, generator=g)
    heads = ProjectionHead(n_features=encoder.n_features, hidden=4, out=4, generator=g)
    model = tmp_path / "model.pt"
    save_pretext_model(model, encoder, heads, {"method": "contrastive"})
    out = tmp_path / "f.npy"
    code, stdout, stderr = _run(capsys, _features_argv(model, files["ecg"], out))
    assert code == 0, stderr
    assert json.loads(stdout)["n_features"] == encoder.n_features
    assert np.load(out).shape[1] == encoder.n_features
    # its heads are not the paper's: pretext-check says so in one line
    _assert_error(*_run(capsys, _check_argv(model, files["ecg"])), "contrastive")

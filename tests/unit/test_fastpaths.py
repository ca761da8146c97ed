"""Regression checks that the chosen fast paths are in place (not timing tests)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from ecgssl.data.store import WindowStoreWriter, read_ecg
from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.device import THREAD_ENV_VARS, autocast, set_threads
from ecgssl.learning.modelfile import save_encoder

LENGTH = 64


def _store(path, n=10, seed=0):
    ecg = np.random.default_rng(seed).standard_normal((n, LENGTH)).astype(np.float32)
    with WindowStoreWriter(
        path, label_columns=(), window_size=LENGTH, metadata={}
    ) as writer:
        writer.write(
            {
                "dataset": ["demo"] * n,
                "subject": [f"s{i % 3}" for i in range(n)],
                "trial": ["t"] * n,
                "window": list(range(n)),
                "start_s": [10.0 * i for i in range(n)],
            },
            ecg,
        )
    return path, ecg


def test_convolutions_pad_explicitly_and_long_kernels_use_the_fast_backward(
    monkeypatch,
):
    encoder = PaperCNN()
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv1d)]
    assert len(convs) == 6
    for conv in convs:
        assert conv.padding == (0,)  # explicit F.pad, not padding="same"
        assert conv.fast_backward
    assert all(m.inplace for m in encoder.modules() if isinstance(m, nn.LeakyReLU))
    # measured faster only for the 32 -> 32, kernel-32 layer; the rest keep oneDNN's
    chosen = [
        conv.uses_fast_backward(torch.randn(2, conv.in_channels, 100)) for conv in convs
    ]
    assert chosen == [False, True, False, False, False, False]
    x = torch.randn(2, 32, 100)
    assert type(convs[1](x).grad_fn).__name__ == "_SameConvFunctionBackward"
    assert type(convs[3](torch.randn(2, 64, 100)).grad_fn).__name__ == (
        "ConvolutionBackward0"
    )
    # inference and autocast use the stock kernel
    with torch.no_grad():
        assert not convs[1].uses_fast_backward(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not convs[1].uses_fast_backward(x)
    monkeypatch.setattr(type(convs[1]), "fast_backward", False)  # the switch works
    assert type(convs[1](x).grad_fn).__name__ == "ConvolutionBackward0"


def test_set_threads_limits_torch_and_blas_pools(monkeypatch):
    before = torch.get_num_threads()
    for var in THREAD_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        assert all(os.environ[var] == "1" for var in THREAD_ENV_VARS)
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be"):
        set_threads(0)


def test_autocast_follows_the_resolved_precision():
    with autocast("cpu"):  # fp32 unless asked: CPU results stay bit-for-bit fp32
        assert not torch.is_autocast_enabled("cpu")
    with autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        autocast("cpu", "auto")  # resolve it first
    if torch.cuda.is_available():
        with autocast("cuda", "bf16"):
            assert torch.is_autocast_enabled("cuda")
            assert torch.get_autocast_dtype("cuda") == torch.bfloat16


def test_pretext_stage_trains_on_one_memmap_not_a_copy(tmp_path, monkeypatch):
    import ecgssl.stages.pretext
    from ecgssl.stages.pretext import pretext_stage

    a, ecg_a = _store(tmp_path / "a.parquet", 7, seed=1)
    b, ecg_b = _store(tmp_path / "b.parquet", 5, seed=2)
    seen = {}

    class Stop(Exception):
        pass

    def fake_pretrain(windows, subjects, **kwargs):
        seen["type"] = type(windows)
        seen["data"] = np.array(windows)
        seen["subjects"] = list(subjects)
        raise Stop

    monkeypatch.setattr(ecgssl.stages.pretext, "pretrain", fake_pretrain)
    out = tmp_path / "out"
    with pytest.raises(Stop):
        pretext_stage(
            [a, b],
            unit={"scope": "all"},
            model_path=out / "encoder.pt",
            sidecar_path=out / "encoder.json",
            history_path=out / "history.tsv",
            windows_path=out / "windows.parquet",
            config={"epochs": 1},
            seed=0,
            device="cpu",
            precision="fp32",
        )
    assert seen["type"] is np.memmap
    np.testing.assert_array_equal(seen["data"], np.concatenate([ecg_a, ecg_b]))
    assert seen["subjects"][0] == "demo/s0"
    assert len(seen["subjects"]) == 12
    assert list(out.iterdir()) == []  # the scratch file is removed, even on error


def test_features_stage_streams_the_store(tmp_path, monkeypatch):
    import ecgssl.data.store
    import ecgssl.stages.features
    from ecgssl.learning.features import extract_features
    from ecgssl.stages.features import features_stage

    store, ecg = _store(tmp_path / "w.parquet", 9)
    encoder = PaperCNN(filters=(4, 8), kernels=(5, 3))
    save_encoder(tmp_path / "enc.pt", encoder)
    expected = extract_features(encoder, read_ecg(store))

    def no_whole_read(*args, **kwargs):
        raise AssertionError("features_stage must not read the whole store")

    assert not hasattr(ecgssl.stages.features, "read_ecg")
    monkeypatch.setattr(ecgssl.data.store, "read_ecg", no_whole_read)
    features_stage(
        tmp_path / "enc.pt", store, tmp_path / "f.npy", device="cpu", precision="fp32"
    )
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), expected, rtol=1e-6)


def test_extract_features_runs_in_inference_mode():
    from ecgssl.learning.features import extract_features

    modes = []

    class Probe(nn.Module):
        n_features = 1

        def forward(self, x):
            modes.append(torch.is_inference_mode_enabled())
            return x[:, :1]

    extract_features(Probe(), np.zeros((3, 8), np.float32), batch_size=2)
    assert modes == [True, True]


def test_micro_batched_step_equals_one_pass():
    from ecgssl.learning.pretext.transformation_recognition import (
        TASK_WEIGHTS,
        PretextHeads,
        PretextNet,
        forward_backward,
    )

    gen = torch.Generator().manual_seed(0)
    signals = torch.randn(14, 128, generator=gen)
    targets = torch.eye(7).repeat(2, 1)
    weights = torch.tensor(TASK_WEIGHTS)
    results = []
    for micro in (None, 4):
        g = torch.Generator().manual_seed(1)
        encoder = PaperCNN(filters=(4, 8), kernels=(5, 3), generator=g)
        model = PretextNet(encoder, PretextHeads(n_features=8, dropout=0.0))
        loss = forward_backward(
            model, signals, targets, weights, 1e-2, gen, micro, torch.device("cpu")
        )
        results.append([loss] + [p.grad.clone() for p in model.parameters()])
    for micro, one in zip(*results, strict=True):
        torch.testing.assert_close(micro, one, rtol=1e-5, atol=1e-7)


def test_pretext_stage_micro_batches_on_the_cpu(tmp_path, monkeypatch):
    import ecgssl.stages.pretext
    from ecgssl.stages.pretext import pretext_stage

    monkeypatch.setattr(ecgssl.stages.pretext, "pretext_micro_batch", lambda p: 48)

    a, _ = _store(tmp_path / "a.parquet", 4)
    seen = {}

    class Stop(Exception):
        pass

    def fake_pretrain(windows, subjects, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(ecgssl.stages.pretext, "pretrain", fake_pretrain)
    with pytest.raises(Stop):
        pretext_stage(
            [a],
            unit={"scope": "all"},
            model_path=tmp_path / "m" / "e.pt",
            sidecar_path=tmp_path / "m" / "e.json",
            history_path=tmp_path / "m" / "h.tsv",
            windows_path=tmp_path / "m" / "w.parquet",
            config={},
            seed=0,
            device="cpu",
            precision="fp32",
        )
    assert seen["micro_batch"] == 48  # the probe's choice reaches the loop


def test_pretrain_checks_micro_batch():
    from ecgssl.learning.pretrain import PretextConfig, pretrain

    with pytest.raises(ValueError, match="micro_batch"):
        pretrain(
            np.zeros((2, 8), np.float32),
            ["a", "b"],
            config=PretextConfig(),
            seed=0,
            device="cpu",
            micro_batch=0,
        )


def test_features_use_small_batches_on_the_cpu():
    from ecgssl.learning.features import CPU_BATCH, extract_features

    seen = []

    class Probe(nn.Module):
        n_features = 2

        def forward(self, x):
            seen.append(x.shape[0])
            return x[:, :2]

    out = extract_features(Probe(), np.zeros((100, 8), dtype=np.float32))
    assert out.shape == (100, 2)
    assert CPU_BATCH <= 64  # measured: 16-64 windows per pass ~2x faster than 256
    assert seen == [CPU_BATCH] * (100 // CPU_BATCH) + [100 % CPU_BATCH]

"""bf16 arithmetic: chosen only where the hardware has it, and as good as fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ecgssl.learning.device as device
from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.device import cpu_info, resolve_precision
from ecgssl.learning.features import extract_features
from ecgssl.learning.finetune import FinetuneConfig, train_classifier
from ecgssl.learning.pretrain import PretextConfig, pretrain

SAPPHIRE = "model name\t: Intel(R) Xeon(R)\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n"
EPYC = "model name\t: AMD EPYC 9R14\nflags\t\t: fpu avx512f avx512_vnni\n"


def test_cpu_flags_decide_native_bf16():
    intel, amd = cpu_info(SAPPHIRE), cpu_info(EPYC)
    assert intel["model"] == "Intel(R) Xeon(R)"
    assert intel["bf16_native"]
    assert not amd["bf16_native"]
    assert amd["flags"] == ["avx512_vnni", "avx512f"]
    assert cpu_info("")["model"] == "unknown"


def test_bf16_never_runs_silently_where_the_cpu_lacks_it(monkeypatch):
    monkeypatch.setattr(device, "cpu_info", lambda text=None: cpu_info(EPYC))
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(ValueError, match="no native bf16"):
        resolve_precision("bf16", "cpu")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("half", "cpu")


def test_auto_picks_bf16_on_a_native_cpu_unless_the_probe_finds_it_slower(
    monkeypatch,
):
    monkeypatch.setattr(device, "cpu_info", lambda text=None: cpu_info(SAPPHIRE))
    monkeypatch.setenv(device.PROBE_ENV, "1")
    monkeypatch.setattr(device, "bf16_faster_on_cpu", lambda backbone: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(device, "bf16_faster_on_cpu", lambda backbone: False)
    assert resolve_precision("auto", "cpu") == "fp32"  # never slower than fp32
    assert resolve_precision("bf16", "cpu") == "bf16"  # asked for explicitly
    monkeypatch.setenv(device.PROBE_ENV, "0")
    assert resolve_precision("auto", "cpu") == "bf16"


def test_probe_result_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = device.bf16_faster_on_cpu()
    cache = tmp_path / "ecgssl" / "precision-probe.json"
    assert cache.exists()
    key = next(iter(__import__("json").loads(cache.read_text())))
    cache.write_text(__import__("json").dumps({key: not first}))
    assert device.bf16_faster_on_cpu() is (not first)


def test_the_probe_is_per_backbone(monkeypatch, tmp_path):
    monkeypatch.setattr(device, "cpu_info", lambda: {"model": "m", "bf16_native": True})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(device.PROBE_ENV, raising=False)
    asked = []

    def probe(backbone="paper_cnn"):
        asked.append(backbone)
        return backbone == "paper_cnn"  # e.g. a transformer slower in bf16

    monkeypatch.setattr(device, "bf16_faster_on_cpu", probe)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("auto", "cpu", "patch_transformer") == "fp32"
    assert asked == ["paper_cnn", "patch_transformer"]
    # the real probe caches one answer per backbone
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    device.bf16_faster_on_cpu("patch_transformer")
    keys = list(__import__("json").loads(
        (tmp_path / "ecgssl" / "precision-probe.json").read_text()))  # fmt: skip
    assert any(k.endswith("|patch_transformer") for k in keys)


def _windows(n=64, length=2560, seed=0):
    """Positive pulses with a fast rise and a slow fall: negation and time reversal
    are visible in every window."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 256.0
    cycle = (t * rng.uniform(1.0, 1.5, (n, 1)) + rng.uniform(0, 1, (n, 1))) % 1.0
    x = np.exp(-cycle / 0.08) * (cycle > 0.02) + 0.05 * rng.standard_normal((n, length))
    x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    return x.astype(np.float32)


def test_bf16_features_correlate_with_fp32():
    encoder = PaperCNN(generator=torch.Generator().manual_seed(0))
    x = _windows(32)
    fp32 = extract_features(encoder, x, precision="fp32")
    bf16 = extract_features(encoder, x, precision="bf16")
    assert fp32.dtype == bf16.dtype == np.float32
    corr = np.corrcoef(fp32.ravel(), bf16.ravel())[0, 1]
    assert corr >= 0.99


def test_bf16_pretext_training_reaches_the_fp32_accuracy():
    """Same data, seed and steps: mean balanced accuracy within 0.1 of fp32's."""
    x = _windows(128, length=512, seed=1)
    subjects = np.array([f"s{i % 8}" for i in range(128)])
    config = PretextConfig.from_dict(
        {
            "epochs": 3,
            "batch_size": 16,
            "val_fraction": 0.25,
            "lr": 0.003,
            "task_weights": [1 / 7] * 7,  # the released weights learn these slowly
            "encoder": {"filters": [8, 16], "kernels": [9, 5]},
            "transforms": {"permute_pieces": 8, "warp_pieces": 8},
        }
    )
    results = {
        p: pretrain(
            x,
            subjects,
            config=config,
            seed=3,
            device="cpu",
            log=lambda _: None,
            precision=p,
        )
        for p in ("fp32", "bf16")
    }
    mean = {
        p: np.mean([r.val_scores.balanced_accuracy[t] for t in ("negate", "flip")])
        for p, r in results.items()
    }
    assert results["bf16"].meta()["precision"] == "bf16"
    assert mean["fp32"] > 0.6  # fp32 learns something to compare with
    assert abs(mean["bf16"] - mean["fp32"]) <= 0.1


def test_bf16_fine_tuning_metrics_within_noise_of_fp32():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = (np.eye(3, 16)[y] * 2.0 + rng.normal(0, 0.7, (300, 16))).astype(np.float32)
    accuracy = {}
    for p in ("fp32", "bf16"):
        out = train_classifier(
            x[:200],
            y[:200],
            x[200:],
            n_classes=3,
            method="ssl_frozen",
            config=FinetuneConfig(epochs=15, batch_size=32, hidden=32),
            seed=1,
            device="cpu",
            log=lambda _: None,
            precision=p,
        )
        accuracy[p] = (out.y_pred == y[200:]).mean()
    assert accuracy["fp32"] > 0.8
    assert abs(accuracy["bf16"] - accuracy["fp32"]) <= 0.05

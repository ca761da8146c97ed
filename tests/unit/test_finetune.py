"""Tests of the emotion classifier training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.finetune import EmotionHead, FinetuneConfig, train_classifier


class TinyEncoder(nn.Module):
    """Stand-in encoder: Conv1d + ReLU + global max pool, (B, L) -> (B, 8)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.n_features = 8
        self.conv = nn.Conv1d(1, 8, kernel_size=5)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x.unsqueeze(1))).amax(dim=2)


def _features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters in 16-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.eye(3, 16) * 4.0
    x = (centres[y] + rng.normal(0, 0.5, (n, 16))).astype(np.float32)
    return x, y.astype(np.int64)


def _windows(n: int, seed: int, length: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 windows carry a sine of larger amplitude than class 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(length) / 16.0
    x = (1.0 + 2.0 * y[:, None]) * np.sin(2 * np.pi * t)[None, :]
    x = x + rng.normal(0, 0.2, (n, length))
    return x.astype(np.float32), y.astype(np.int64)


SMALL = FinetuneConfig(epochs=20, batch_size=32, hidden=32, depth=2)


def test_config_defaults_and_from_dict():
    c = FinetuneConfig()
    assert (c.epochs, c.batch_size, c.lr, c.hidden, c.depth) == (200, 128, 1e-3, 512, 2)
    assert (c.dropout, c.l2) == (0.0, 0.0)
    assert FinetuneConfig.from_dict({"epochs": 3, "l2": 1e-4}).epochs == 3
    with pytest.raises(ValueError, match="epoch"):
        FinetuneConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="dropout"):
        FinetuneConfig(dropout=1.0)
    with pytest.raises(TypeError, match="batch_size"):
        FinetuneConfig(batch_size=1.5)


def test_head_shapes_and_every_parameter_gets_a_gradient():
    head = EmotionHead(n_features=16, n_classes=4, hidden=8, depth=3, dropout=0.5)
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    logits = head(z, torch.Generator().manual_seed(1))
    assert logits.shape == (5, 4)
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3, 0])).backward()
    params = list(head.named_parameters())
    assert len(params) == 2 * 4  # 3 hidden + output layer, weight and bias
    for name, p in params:
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_head_init_is_seeded():
    def make(seed):
        return EmotionHead(
            n_features=4,
            n_classes=2,
            hidden=8,
            depth=1,
            dropout=0.0,
            generator=torch.Generator().manual_seed(seed),
        )

    a, b, c = make(1), make(1), make(2)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)


def test_ssl_frozen_learns_separable_features():
    x, y = _features(150, 0)
    xt, yt = _features(100, 1)
    logs: list[str] = []
    out = train_classifier(
        x,
        y,
        xt,
        n_classes=3,
        method="ssl_frozen",
        config=SMALL,
        seed=0,
        device="cpu",
        log=logs.append,
    )
    assert out.y_pred.shape == (100,)
    assert out.y_pred.dtype == np.int64
    assert out.proba.shape == (100, 3)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out.y_pred, out.proba.argmax(axis=1))
    assert (out.y_pred == yt).mean() > 0.95
    assert len(out.history) == SMALL.epochs
    assert out.history[-1]["train_loss"] < out.history[0]["train_loss"]
    assert out.history[-1]["train_accuracy"] > 0.95
    assert len(logs) == SMALL.epochs
    assert "samples/s" in logs[0]
    assert out.encoder is None


def test_ssl_frozen_rejects_an_encoder():
    x, y = _features(20, 0)
    with pytest.raises(ValueError, match="encoder must be None"):
        train_classifier(
            x,
            y,
            x,
            n_classes=3,
            method="ssl_frozen",
            config=SMALL,
            seed=0,
            device="cpu",
            encoder=TinyEncoder(),
        )


@pytest.mark.parametrize("method", ["supervised", "ssl_finetune"])
def test_end_to_end_methods_update_encoder_copy(method):
    x, y = _windows(64, 0)
    xt, yt = _windows(32, 1)
    encoder = TinyEncoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    config = FinetuneConfig(epochs=20, batch_size=16, hidden=16, depth=1, lr=1e-2)
    out = train_classifier(
        x,
        y,
        xt,
        n_classes=2,
        method=method,
        config=config,
        seed=0,
        device="cpu",
        encoder=encoder,
        log=lambda _: None,
    )
    # the argument is untouched; the returned trained copy changed
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert out.encoder is not None
    assert not torch.equal(out.encoder.conv.weight, before["conv.weight"])
    assert out.proba.shape == (32, 2)
    assert (out.y_pred == yt).mean() > 0.8


def test_deterministic_on_cpu_with_dropout_and_l2():
    x, y = _features(80, 0)
    config = FinetuneConfig(epochs=5, batch_size=16, hidden=16, dropout=0.3, l2=1e-3)

    def run(seed):
        return train_classifier(
            x,
            y,
            x[:10],
            n_classes=3,
            method="ssl_frozen",
            config=config,
            seed=seed,
            device="cpu",
            log=lambda _: None,
        )

    a, b, c = run(3), run(3), run(4)
    np.testing.assert_array_equal(a.proba, b.proba)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    assert not np.array_equal(a.proba, c.proba)


def test_l2_adds_to_the_loss():
    x, y = _features(40, 0)
    base = FinetuneConfig(epochs=1, batch_size=40, hidden=8, depth=1)
    heavy = FinetuneConfig(epochs=1, batch_size=40, hidden=8, depth=1, l2=1.0)
    kw = dict(
        n_classes=3, method="ssl_frozen", seed=0, device="cpu", log=lambda _: None
    )
    h0 = train_classifier(x, y, x, config=base, **kw).history[0]["train_loss"]
    h1 = train_classifier(x, y, x, config=heavy, **kw).history[0]["train_loss"]
    assert h1 > h0 + 0.5  # the kernels' squared sum is of order 1 or more


def test_empty_test_fold():
    x, y = _features(20, 0)
    out = train_classifier(
        x,
        y,
        x[:0],
        n_classes=3,
        method="ssl_frozen",
        config=FinetuneConfig(epochs=1, hidden=4),
        seed=0,
        device="cpu",
        log=lambda _: None,
    )
    assert out.proba.shape == (0, 3)


def test_wrong_shapes_and_arguments():
    x, y = _features(20, 0)
    cfg = FinetuneConfig(epochs=1, hidden=4)
    kw = dict(n_classes=3, config=cfg, seed=0, device="cpu")
    with pytest.raises(ValueError, match="y_train"):
        train_classifier(x, y[:-1], x, method="ssl_frozen", **kw)
    with pytest.raises(ValueError, match="same width"):
        train_classifier(x, y, x[:, :5], method="ssl_frozen", **kw)
    with pytest.raises(ValueError, match="x_train"):
        train_classifier(x[:, 0].copy(), y, x, method="ssl_frozen", **kw)
    with pytest.raises(ValueError, match="y_train"):
        train_classifier(x, np.full(20, -1), x, method="ssl_frozen", **kw)
    with pytest.raises(ValueError, match="method"):
        train_classifier(x, y, x, method="linear", **kw)
    with pytest.raises(TypeError, match="encoder"):
        train_classifier(x, y, x, method="supervised", **kw)
    with pytest.raises(TypeError, match="config"):
        train_classifier(
            x, y, x, n_classes=3, method="ssl_frozen", config={}, seed=0, device="cpu"
        )


def test_real_encoder_on_full_windows():
    encoder = PaperCNN(generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2560)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 0, 1])
    out = train_classifier(
        x,
        y,
        x[:2],
        n_classes=2,
        method="ssl_finetune",
        config=FinetuneConfig(epochs=1, batch_size=4, hidden=8, depth=1),
        seed=0,
        device="cpu",
        encoder=encoder,
        log=lambda _: None,
    )
    assert out.proba.shape == (2, 2)
    assert out.head.n_features == encoder.n_features == 128


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_runs_and_matches_shapes():
    x, y = _windows(64, 0)
    out = train_classifier(
        x,
        y,
        x[:8],
        n_classes=2,
        method="supervised",
        config=FinetuneConfig(epochs=2, batch_size=16, hidden=8, depth=1, dropout=0.2),
        seed=0,
        device="cuda",
        encoder=TinyEncoder(),
        log=lambda _: None,
    )
    assert out.proba.shape == (8, 2)
    assert next(out.encoder.parameters()).device.type == "cpu"


def test_global_rng_untouched_and_irrelevant():
    x, y = _windows(32, 0)
    config = FinetuneConfig(epochs=2, batch_size=8, hidden=8, depth=1, dropout=0.5)
    encoder = TinyEncoder()  # its nn.Conv1d init uses the global RNG; build it first

    def run():
        return train_classifier(
            x,
            y,
            x[:4],
            n_classes=2,
            method="supervised",
            config=config,
            seed=1,
            device="cpu",
            encoder=encoder,
            log=lambda _: None,
        )

    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    a = run()
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(99)
    b = run()
    np.testing.assert_array_equal(a.proba, b.proba)


class _Interrupt(Exception):
    pass


def _untimed(history):
    return [
        {k: v for k, v in h.items() if k not in ("seconds", "samples_per_s")}
        for h in history
    ]


@pytest.mark.parametrize("method", ["ssl_frozen", "supervised"])
def test_interrupted_training_resumes_to_the_uninterrupted_result(tmp_path, method):
    if method == "ssl_frozen":
        x, y = _features(80, 0)
        encoder = None
    else:
        x, y = _windows(64, 0)
        encoder = TinyEncoder()
    config = FinetuneConfig(epochs=6, batch_size=16, hidden=16, dropout=0.3, l2=1e-3)
    common = dict(
        n_classes=int(y.max()) + 1,
        method=method,
        config=config,
        seed=11,
        device="cpu",
        encoder=encoder,
    )
    full = train_classifier(x, y, x[:20], log=lambda _: None, **common)

    ckpt = tmp_path / "fold0" / "checkpoint.pt"

    def killer(line: str) -> None:
        if "epoch 4/6" in line:  # logged once its checkpoint is on disk
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_classifier(x, y, x[:20], log=killer, checkpoint_path=ckpt, **common)
    assert ckpt.exists()
    lines: list[str] = []
    resumed = train_classifier(
        x, y, x[:20], log=lines.append, checkpoint_path=ckpt, **common
    )
    assert any("resuming" in line and "after epoch 4" in line for line in lines)
    assert sum(line.startswith(f"{method} epoch") for line in lines) == 2  # 5-6 ran
    np.testing.assert_array_equal(full.proba, resumed.proba)
    assert _untimed(full.history) == _untimed(resumed.history)

    # Other data or another seed never resume from this checkpoint.
    lines.clear()
    other = {**common, "seed": 12}
    train_classifier(x, y, x[:20], log=lines.append, checkpoint_path=ckpt, **other)
    assert not any("resuming" in line for line in lines)


def test_checkpoint_interval_throttles_saves(tmp_path):
    x, y = _features(40, 0)
    config = FinetuneConfig(epochs=4, batch_size=16, hidden=8)
    ckpt = tmp_path / "checkpoint.pt"

    def stop_at_last(line: str) -> None:
        if "epoch 4/4" in line:
            raise _Interrupt

    common = dict(n_classes=3, method="ssl_frozen", config=config, seed=0, device="cpu")
    with pytest.raises(_Interrupt):
        train_classifier(
            x,
            y,
            x[:5],
            log=stop_at_last,
            checkpoint_path=ckpt,
            checkpoint_every_s=3600.0,
            **common,
        )
    assert not ckpt.exists()  # no epoch took an hour
    with pytest.raises(_Interrupt):
        train_classifier(x, y, x[:5], log=stop_at_last, checkpoint_path=ckpt, **common)
    assert ckpt.exists()
    with pytest.raises(ValueError, match="checkpoint_every_s"):
        train_classifier(
            x, y, x[:5], checkpoint_path=ckpt, checkpoint_every_s=-1.0, **common
        )


def test_checkpoint_fingerprint_names_the_device_type():
    # generator states differ between devices: a CPU checkpoint is not a CUDA one
    from ecgssl.learning.finetune import _fingerprint

    x, y = _features(20, 0)
    head = EmotionHead(
        n_features=16,
        n_classes=3,
        hidden=4,
        depth=1,
        dropout=0.0,
        generator=torch.Generator(),
    )
    cfg = FinetuneConfig(epochs=1)
    args = (x, y, "ssl_frozen", 3, cfg, 0, head)
    cpu = _fingerprint(*args, torch.device("cpu"))
    assert cpu == _fingerprint(*args, torch.device("cpu"))
    assert cpu != _fingerprint(*args, torch.device("cuda"))
    assert cpu != _fingerprint(x, y, "ssl_frozen", 3, cfg, 1, head, torch.device("cpu"))


def test_every_method_fits_and_selects_on_the_same_windows():
    """The inner validation split, like the label fraction, comes from the
    method-independent seed: the same fit and validation rows (and so the same
    majority baseline) for every method of a fold."""
    from pathlib import Path

    import pandas as pd

    from ecgssl.stages.finetune import split_rows

    rng = np.random.default_rng(0)
    subjects = np.repeat([f"s{i}" for i in range(8)], 10)
    y = rng.integers(0, 3, subjects.size)
    folds = pd.DataFrame({"row": np.arange(subjects.size),
                          "fold": np.repeat([0, 1] * 4, 10)})  # fmt: skip
    job = {"dataset": "d", "label": "l", "protocol": "subject_kfold", "fold": 0,
           "label_fraction": 1.0}  # fmt: skip

    def split(fraction_seed):
        return split_rows(y, subjects, folds, job=job, validation_fraction=0.25,
                          fraction_seed=fraction_seed, where=Path("f.tsv"))  # fmt: skip

    a, b, other = split(11), split(11), split(12)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert set(a.val) != set(other.val)  # drawn, not fixed
    assert not set(subjects[a.val]) & set(subjects[a.train])  # by subject

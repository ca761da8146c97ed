"""Tests of the pretext stage: split, training loop, determinism, resume, devices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ecgssl.evaluation.folds import split_subjects
from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.device import select_device, set_threads
from ecgssl.learning.pretext.transformation_recognition import (
    TASK_WEIGHTS,
    PretextHeads,
    PretextNet,
    evaluate,
)
from ecgssl.learning.pretrain import PretextConfig, pretrain
from ecgssl.learning.transforms import TASKS
from ecgssl.util.errors import ConfigError

LENGTH = 256
SMALL_ENCODER = {"filters": [4, 8, 16], "kernels": [8, 8, 4]}


def _config(**kw) -> PretextConfig:
    base = {
        "epochs": 2,
        "batch_size": 16,
        "transforms": {"permute_pieces": 8, "warp_pieces": 8},
        "encoder": SMALL_ENCODER,
    }
    base.update(kw)
    return PretextConfig.from_dict(base)


def _data(n: int = 60, n_subjects: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / 64.0
    f = rng.uniform(1.0, 2.0, (n, 1))
    x = np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (n, 1))) ** 9
    x = (x + 0.1 * rng.standard_normal((n, LENGTH))).astype(np.float32)
    subjects = np.array([f"synth/s{i % n_subjects:02d}" for i in range(n)])
    return x, subjects


def _train(config, seed, *, log, checkpoint_path=None):
    """Pretrain on :func:`_data` on the CPU."""
    x, subjects = _data()
    return pretrain(
        x,
        subjects,
        config=config,
        seed=seed,
        device="cpu",
        log=log,
        checkpoint_path=checkpoint_path,
    )


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _untimed(history):
    return [
        {k: v for k, v in row.items() if k not in ("seconds", "windows_per_s")}
        for row in history
    ]


def test_config_from_dict():
    cfg = PretextConfig.from_dict({"epochs": 3, "transforms": {"snr_db": 20}})
    assert cfg.epochs == 3
    assert cfg.transforms.snr_db == 20
    assert cfg.transforms.scale == 1.1
    assert cfg.task_weights == TASK_WEIGHTS
    assert PretextConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="epohcs"):
        PretextConfig.from_dict({"epohcs": 3})
    with pytest.raises(ConfigError, match="snr"):
        PretextConfig.from_dict({"transforms": {"snr": 3}})
    with pytest.raises(ConfigError, match="batch_size"):
        PretextConfig.from_dict({"batch_size": 0})
    with pytest.raises(ConfigError, match="task_weights"):
        PretextConfig.from_dict({"task_weights": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="encoder"):
        PretextConfig.from_dict({"encoder": {"dropout": 0.1}})


def test_split_subjects():
    subjects = np.array([f"d/s{i}" for i in range(20)] * 3)
    train, val = split_subjects(subjects, 0.1, seed=5)
    assert len(val) == 2
    assert len(train) == 18
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(subjects.tolist())
    assert split_subjects(subjects, 0.1, seed=5) == (train, val)
    assert split_subjects(subjects, 0.1, seed=6) != (train, val)
    # At least one validation subject when there are two; none with one subject.
    assert split_subjects(np.array(["a", "b", "a"]), 0.1, 0) in (
        (["a"], ["b"]),
        (["b"], ["a"]),
    )
    assert split_subjects(np.array(["a", "a"]), 0.1, 0) == (["a"], [])
    assert split_subjects(subjects, 0.0, 0)[1] == []


def test_two_epoch_pretrain_from_memmap(tmp_path):
    x, subjects = _data()
    mm = np.lib.format.open_memmap(
        tmp_path / "w.npy", mode="w+", dtype=np.float32, shape=x.shape
    )
    mm[:] = x
    mm.flush()
    windows = np.load(tmp_path / "w.npy", mmap_mode="r")
    lines: list[str] = []
    result = pretrain(
        windows,
        subjects,
        config=_config(),
        seed=0,
        device="cpu",
        log=lines.append,
        log_every=2,
    )
    assert len(result.history) == 2
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert [row["steps"] for row in result.history] == [4, 8]  # 54 windows / 16
    row = result.history[-1]
    for task in TASKS:
        assert 0.0 <= row[f"val_acc_{task}"] <= 1.0
    assert np.isfinite(row["train_loss"])
    assert np.isfinite(row["val_loss"])
    assert row["windows_per_s"] > 0
    assert row["lr"] == pytest.approx(1e-3)
    assert result.val_accuracy == {t: row[f"val_acc_{t}"] for t in TASKS}
    # Subject-disjoint split covering everything.
    assert result.n_val_subjects == 1
    assert result.n_train_subjects == 5
    assert not set(result.train_subjects) & set(result.val_subjects)
    assert set(result.train_subjects) | set(result.val_subjects) == set(subjects)
    assert result.n_train_windows + result.n_val_windows == 60
    assert result.n_val_windows == int(np.isin(subjects, result.val_subjects).sum())
    assert isinstance(result.encoder, PaperCNN)
    assert isinstance(result.heads, PretextHeads)
    assert not result.encoder.training
    assert result.device == "cpu"
    assert result.encoder(torch.from_numpy(x[:2])).shape == (2, 16)
    # Progress lines: per step block and per epoch, with throughput and ETA.
    assert any("step 2/4" in line for line in lines)
    epoch_lines = [line for line in lines if "train loss" in line]
    assert len(epoch_lines) == 2
    assert all("windows/s" in line and "ETA" in line for line in epoch_lines)
    meta = result.meta()
    assert meta["seed"] == 0
    assert meta["epochs_trained"] == 2


def test_validation_windows_never_train():
    """Training must not depend on the validation windows' values."""
    x, subjects = _data()
    cfg = _config(epochs=1)
    a = pretrain(x, subjects, config=cfg, seed=3, device="cpu", log=lambda _: None)
    is_val = np.isin(subjects, a.val_subjects)
    x2 = x.copy()
    x2[is_val] = np.random.default_rng(1).standard_normal(x2[is_val].shape)
    b = pretrain(x2, subjects, config=cfg, seed=3, device="cpu", log=lambda _: None)
    assert a.val_subjects == b.val_subjects
    assert _same_weights(a.encoder, b.encoder)
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    assert a.history[0]["val_loss"] != b.history[0]["val_loss"]


def test_deterministic_on_cpu():
    x, subjects = _data()
    cfg = _config(epochs=1)
    runs = [
        pretrain(x, subjects, config=cfg, seed=s, device="cpu", log=lambda _: None)
        for s in (7, 7, 8)
    ]
    assert _same_weights(runs[0].encoder, runs[1].encoder)
    assert _same_weights(runs[0].heads, runs[1].heads)
    assert _untimed(runs[0].history) == _untimed(runs[1].history)
    assert not _same_weights(runs[0].encoder, runs[2].encoder)


class _Interrupt(Exception):
    pass


def test_resume_equals_uninterrupted_run(tmp_path):
    cfg = _config(epochs=2)
    quiet = lambda _: None  # noqa: E731
    full = _train(cfg, 4, log=quiet)

    ckpt = tmp_path / "ckpt" / "pretext.pt"

    def killer(line: str) -> None:
        if line.startswith("pretext epoch 1/2: train loss"):  # after its checkpoint
            raise _Interrupt

    with pytest.raises(_Interrupt):
        _train(cfg, 4, log=killer, checkpoint_path=ckpt)
    assert ckpt.exists()
    lines: list[str] = []
    resumed = _train(cfg, 4, log=lines.append, checkpoint_path=ckpt)
    assert any("resuming" in line and "epoch 1" in line for line in lines)
    assert sum("train loss" in line for line in lines) == 1  # only epoch 2 ran
    assert _same_weights(full.encoder, resumed.encoder)
    assert _same_weights(full.heads, resumed.heads)
    assert _untimed(full.history) == _untimed(resumed.history)

    # Extending a finished 1-epoch run to 2 epochs gives the same result too.
    ckpt2 = tmp_path / "extend.pt"
    one = _config(epochs=1)
    _train(one, 4, log=quiet, checkpoint_path=ckpt2)
    extended = _train(cfg, 4, log=quiet, checkpoint_path=ckpt2)
    assert _same_weights(full.encoder, extended.encoder)


def test_checkpoint_of_another_run_is_not_reused(tmp_path):
    cfg = _config(epochs=1)
    quiet = lambda _: None  # noqa: E731
    ckpt = tmp_path / "pretext.pt"
    _train(cfg, 1, log=quiet, checkpoint_path=ckpt)
    lines: list[str] = []
    other = _train(cfg, 2, log=lines.append, checkpoint_path=ckpt)
    fresh = _train(cfg, 2, log=quiet)
    assert any("another run" in line for line in lines)
    assert _same_weights(other.encoder, fresh.encoder)
    ckpt.write_text("garbage")
    ckpt.with_name(ckpt.name + ".prev").unlink(missing_ok=True)
    lines = []
    again = _train(cfg, 2, log=lines.append, checkpoint_path=ckpt)
    assert any("skipped: unreadable" in line for line in lines)
    assert not any("resuming" in line for line in lines)
    assert _same_weights(again.encoder, fresh.encoder)


def _flip_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    data[-200] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate", "wrong_file"])
def test_corrupt_checkpoint_falls_back_to_the_last_good_one(tmp_path, damage):
    quiet = lambda _: None  # noqa: E731
    three = _config(epochs=3)
    full = _train(three, 5, log=quiet)

    ckpt = tmp_path / "pretext.pt"
    prev = tmp_path / "pretext.pt.prev"
    _train(_config(epochs=2), 5, log=quiet, checkpoint_path=ckpt)
    assert ckpt.exists()  # epoch 2
    assert prev.exists()  # epoch 1
    if damage == "flip":
        _flip_byte(ckpt)
    elif damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    else:
        torch.save({"format": "something else"}, ckpt)
    lines: list[str] = []
    resumed = _train(three, 5, log=lines.append, checkpoint_path=ckpt)
    assert any(f"checkpoint {ckpt} skipped" in line for line in lines), lines
    assert any("resuming" in line and "after epoch 1" in line for line in lines)
    assert sum("train loss" in line for line in lines) == 2  # epochs 2 and 3 ran
    assert _same_weights(full.encoder, resumed.encoder)
    assert _untimed(full.history) == _untimed(resumed.history)


def test_checkpoint_needing_arbitrary_objects_is_refused(tmp_path):
    """A pickled object in a checkpoint is refused by weights_only loading, not run."""
    ckpt = tmp_path / "pretext.pt"
    marker = tmp_path / "pwned"
    torch.save({"seal": _Payload(str(marker))}, ckpt)
    lines: list[str] = []
    _train(_config(epochs=1), 5, log=lines.append, checkpoint_path=ckpt)
    assert not marker.exists()
    assert any("skipped: unreadable" in line for line in lines)


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_lr_decays_per_step_staircase():
    x, subjects = _data()
    cfg = _config(epochs=1, lr_decay_steps=2, lr_decay=0.5)  # 4 steps in the epoch
    result = pretrain(x, subjects, config=cfg, seed=0, device="cpu", log=lambda _: None)
    assert result.history[0]["lr"] == pytest.approx(1e-3 * 0.5**2)


def test_single_subject_has_no_validation():
    x, _ = _data(n=20)
    subjects = np.array(["synth/only"] * 20)
    result = pretrain(
        x, subjects, config=_config(epochs=1), seed=0, device="cpu", log=lambda _: None
    )
    assert result.n_val_windows == 0
    assert result.val_subjects == []
    assert result.history[0]["val_loss"] is None
    assert all(v is None for v in result.val_accuracy.values())


def test_evaluate_changes_nothing_and_is_repeatable():
    x, _ = _data(n=20)
    cfg = _config()
    g = torch.Generator().manual_seed(0)
    encoder = PaperCNN(**SMALL_ENCODER, generator=g)
    net = PretextNet(encoder, PretextHeads(n_features=16, generator=g))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = []
    for _ in range(2):
        out.append(
            evaluate(
                net,
                [torch.from_numpy(x[:12]), torch.from_numpy(x[12:])],
                params=cfg.transforms,
                weights=TASK_WEIGHTS,
                l2=cfg.l2,
                generator=torch.Generator().manual_seed(99),
                device=torch.device("cpu"),
            )  # fmt: skip
        )
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert net.training  # the mode it was in
    assert out[0] == out[1]
    # balanced accuracy: chance is 0.5 whatever the class balance
    for task in TASKS:
        assert 0.0 <= out[0].balanced_accuracy[task] <= 1.0


def test_pretrain_validates_arguments():
    x, subjects = _data(n=20)
    with pytest.raises(ValueError, match="subjects"):
        pretrain(x, subjects[:5], config=_config(), seed=0, device="cpu")
    with pytest.raises(ValueError, match="windows"):
        pretrain(x[0], subjects, config=_config(), seed=0, device="cpu")
    no_pad = _config(transforms={"warp_pieces": 9, "warp_stretch": 1.0})
    with pytest.raises(ValueError, match="padded"):  # 9 x 28 = 252 < 256 samples
        pretrain(x, subjects, config=no_pad, seed=0, device="cpu")


def test_select_device_and_threads():
    assert select_device("cpu") == torch.device("cpu")
    auto = select_device("auto")
    if torch.cuda.is_available():
        assert auto.type == "cuda"
    else:
        assert auto.type in ("cpu", "mps")
        with pytest.raises(ValueError, match="preference"):
            select_device("cuda")
    with pytest.raises(ValueError, match="preference"):
        select_device("tpu")
    with pytest.raises(ValueError, match="n must be"):
        set_threads(0)
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pretrain_on_cuda():
    x, subjects = _data()
    result = pretrain(
        x, subjects, config=_config(epochs=1), seed=0, device="cuda", log=lambda _: None
    )
    assert result.device.startswith("cuda")
    assert next(result.encoder.parameters()).device.type == "cpu"
    assert np.isfinite(result.history[0]["train_loss"])


def test_checkpoint_of_another_micro_batch_size_is_not_reused(tmp_path):
    # dropout masks are drawn chunk by chunk, so the chunk size shapes the trajectory
    x, subjects = _data()
    ckpt = tmp_path / "pretext.pt"
    quiet = lambda _: None  # noqa: E731
    _train(_config(epochs=1), 3, log=quiet, checkpoint_path=ckpt)
    lines: list[str] = []
    pretrain(
        x,
        subjects,
        config=_config(epochs=2),
        seed=3,
        device="cpu",
        log=lines.append,
        checkpoint_path=ckpt,
        micro_batch=4,
    )
    assert any("another run" in line for line in lines)
    assert not any("resuming" in line for line in lines)

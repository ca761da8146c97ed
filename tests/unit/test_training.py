"""The training skeleton: epochs, selection, early stopping, checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ecgssl.learning.training import Selection, TrainingRun, fingerprint, fit


class _Stop(Exception):
    pass


def _run(scores, *, epochs=6, patience=None, checkpoint=None, log=None, every=0.0):
    """A one-weight model whose 'validation score' follows ``scores`` by epoch.

    Each epoch adds 1 to the weight and draws one number from a seeded generator,
    so weights, generator state and history all depend on the epochs trained.
    """
    torch.manual_seed(0)
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(3)

    def train_epoch(epoch):
        with torch.no_grad():
            model.weight += 1.0
        return {"draw": float(torch.rand((), generator=gen))}

    def validate():
        return {"val_score": scores[int(model.weight.item()) - 1]}

    return model, TrainingRun(
        name="toy",
        model=model,
        optimizer=optimizer,
        epochs=epochs,
        train_epoch=train_epoch,
        validate=validate,
        describe=lambda row: f"score {row['val_score']}",
        log=log or (lambda _: None),
        generators={"draw": gen},
        selection=Selection("val_score", "max", patience),
        fingerprint=fingerprint({"scores": scores}),
        checkpoint_path=checkpoint,
        checkpoint_every_s=every,
    )


def _untimed(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_selection_keeps_the_best_epoch_and_patience_stops():
    scores = [0.1, 0.5, 0.4, 0.3, 0.9, 0.2]
    model, run = _run(scores)
    out = fit(run)
    assert len(out.history) == 6
    assert not out.stopped_early
    assert out.best_epoch == 5
    assert model.weight.item() == 5.0
    model, run = _run(scores, patience=2)
    out = fit(run)
    assert [r["epoch"] for r in out.history] == [1, 2, 3, 4]  # 3 and 4 not better
    assert out.stopped_early
    assert out.best_epoch == 2
    assert model.weight.item() == 2.0


def test_resumed_run_with_selection_equals_uninterrupted(tmp_path):
    scores = [0.1, 0.5, 0.4, 0.3, 0.9, 0.2]
    full_model, run = _run(scores, patience=3)
    full = fit(run)

    def kill_at_4(line):
        if "epoch 4/6" in line:
            raise _Stop

    ckpt = tmp_path / "ck.pt"
    _, run = _run(scores, patience=3, checkpoint=ckpt, log=kill_at_4)
    with pytest.raises(_Stop):
        fit(run)
    lines = []
    model, run = _run(scores, patience=3, checkpoint=ckpt, log=lines.append)
    out = fit(run)
    assert any("resuming" in line and "after epoch 4" in line for line in lines)
    assert _untimed(out.history) == _untimed(full.history)
    assert (out.best_epoch, out.stopped_early) == (full.best_epoch, full.stopped_early)
    assert model.weight.item() == full_model.weight.item()


def test_a_finished_stopped_run_does_not_train_again(tmp_path):
    scores = [0.9, 0.1, 0.1, 0.1]
    ckpt = tmp_path / "ck.pt"
    _, run = _run(scores, epochs=4, patience=1, checkpoint=ckpt)
    first = fit(run)
    assert first.stopped_early
    assert len(first.history) == 2
    lines = []
    model, run = _run(scores, epochs=4, patience=1, checkpoint=ckpt, log=lines.append)
    again = fit(run)
    assert not any("epoch 3/4" in line for line in lines)
    assert _untimed(again.history) == _untimed(first.history)
    assert model.weight.item() == 1.0  # the best epoch's weights


def test_selection_arguments_and_fingerprint():
    with pytest.raises(ValueError, match="mode"):
        Selection("x", "biggest")
    with pytest.raises(ValueError, match="patience"):
        Selection("x", "min", 0)
    assert Selection("x", "min").better(1.0, None)
    assert not Selection("x", "min").better(float("nan"), 2.0)
    a = fingerprint({"b": 1, "a": [1, 2]})
    assert a == fingerprint({"a": [1, 2], "b": 1})  # key order does not matter
    assert a != fingerprint({"a": [1, 2], "b": 2})
    assert len(a) == 64

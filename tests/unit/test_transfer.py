"""Transfer check: a pretext model trained on synthetic ECG only, scored on real ECG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgssl.data.preprocess import prepare_windows
from ecgssl.data.reference_ecg import available_references
from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.learning.modelfile import save_pretext_model
from ecgssl.learning.pretext.transfer import (
    ALL_REFERENCES,
    real_ecg_scores,
    scores_table,
)
from ecgssl.learning.pretext.transformation_recognition import PretextNet
from ecgssl.learning.pretrain import PretextConfig, pretrain
from ecgssl.learning.transforms import TASKS, TransformParams

N_SUBJECTS = 10


@pytest.fixture(scope="module")
def short_run():
    """About 50 s on 2 cores: 10 synthetic subjects x 80 s, 5 epochs of batch 8."""
    torch.set_num_threads(2)
    rng = np.random.default_rng(5)
    windows, subjects = [], []
    for k in range(N_SUBJECTS):
        profile = draw_subject(rng)
        x = simulate_ecg(
            profile,
            duration_s=80.0,
            fs=256.0,
            arousal=float(rng.uniform()),
            valence=float(rng.uniform()),
            rng=rng,
        )
        w = prepare_windows(x, fs=256.0)
        windows.append(w)
        subjects += [f"s{k}"] * w.shape[0]
    config = PretextConfig(epochs=5, batch_size=8, lr=0.003, val_fraction=0.2)
    result = pretrain(
        np.concatenate(windows),
        np.asarray(subjects),
        config=config,
        seed=3,
        device="cpu",
        micro_batch=28,
    )
    return result, PretextNet(result.encoder, result.heads)


def test_short_run_recognises_negation_on_real_ecg(short_run):
    """Negation is learned within a few hundred steps and transfers.

    A run this short (~100 steps) learns the negation head only: the sign of the
    sharp, upright R wave (flip and permute need a few epochs of the default data,
    noise, scale and time warp many more; see docs/synthetic.md). Its transfer is
    what this test guards: an encoder that learned the synthetic R wave's polarity
    must read real R waves the same way.
    """
    result, model = short_run
    assert result.val_scores.balanced_accuracy["negate"] >= 0.9
    scores = real_ecg_scores(model, recordings=["mitbih_208"], repeats=2)
    assert set(scores) == {"mitbih_208", ALL_REFERENCES}
    assert scores["mitbih_208"].balanced_accuracy["negate"] >= 0.9
    # the heads still at chance on synthetic data are at chance on real data too
    for task in TASKS[1:]:
        bacc = scores["mitbih_208"].balanced_accuracy[task]
        assert 0.0 <= bacc <= 1.0


def test_scores_from_a_model_file_match_the_network(short_run, tmp_path):
    result, model = short_run
    path = tmp_path / "model.pt"
    meta = {"config": result.config.to_dict()}
    save_pretext_model(path, result.encoder, result.heads, meta)
    from_file = real_ecg_scores(path, recordings=["mitbih_208"], seed=1, repeats=1)
    direct = real_ecg_scores(
        model,
        params=TransformParams(),
        recordings=["mitbih_208"],
        seed=1,
        repeats=1,
    )
    assert from_file["mitbih_208"].balanced_accuracy == pytest.approx(
        direct["mitbih_208"].balanced_accuracy
    )
    rows = scores_table(from_file)
    assert [r["recording"] for r in rows] == ["mitbih_208", ALL_REFERENCES]
    assert set(rows[0]) == {"recording", *TASKS[1:], "mean"}


def test_default_uses_every_available_recording(short_run):
    _, model = short_run
    scores = real_ecg_scores(model, repeats=1)
    assert set(scores) == {*available_references(), ALL_REFERENCES}


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"repeats": 0}, ValueError),
        ({"recordings": ["nope"]}, ValueError),
        ({"params": {"snr_db": 15}}, TypeError),
    ],
)
def test_arguments_are_checked(short_run, kwargs, exc):
    _, model = short_run
    with pytest.raises(exc):
        real_ecg_scores(model, **kwargs)

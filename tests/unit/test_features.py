"""Preprocessing of new ECG for the encoder, and per-subject feature normalisation."""

import numpy as np
import pytest

from ecgssl.data.preprocess import prepare_windows
from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.learning.features import normalise_per_subject


def test_normalise_per_subject_removes_person_offsets():
    rng = np.random.default_rng(0)
    subjects = np.repeat(["a", "b", "c"], 20)
    offsets = np.repeat([[0.0, 5.0], [10.0, -3.0], [2.0, 1.0]], 20, axis=0)
    x = offsets + rng.standard_normal((60, 2))
    x[:, 1][subjects == "c"] = 7.0  # constant within a subject
    z = normalise_per_subject(x, subjects)
    assert z.dtype == np.float32
    for s in "ab":
        np.testing.assert_allclose(z[subjects == s].mean(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(z[subjects == s].std(axis=0), 1, atol=1e-5)
    assert np.all(z[subjects == "c", 1] == 0)
    # within-subject order is kept: the ranking of a subject's windows is unchanged
    a = subjects == "a"
    assert (np.argsort(z[a, 0]) == np.argsort(x[a, 0])).all()


def test_normalise_per_subject_checks_shapes():
    with pytest.raises(ValueError, match="subjects"):
        normalise_per_subject(np.zeros((4, 2)), np.array(["a"] * 3))


def test_prepare_windows_matches_store_conventions():
    rng = np.random.default_rng(1)
    x = simulate_ecg(
        draw_subject(rng), duration_s=35, fs=500, arousal=0.5, valence=0.5, rng=rng
    )
    w = prepare_windows(x, fs=500)
    assert w.shape == (3, 2560)
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.1
    assert 0.8 < w.std() < 1.2
    two_d = prepare_windows(x[: 3 * 5000].reshape(3, 5000), fs=500)
    assert two_d.shape == (3, 2560)
    with pytest.raises(ValueError, match="window"):
        prepare_windows(x[:4000].reshape(2, 2000), fs=500)

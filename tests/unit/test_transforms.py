"""Tests of the pretext transformations: hand-computed cases and no trivial cues."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ecgssl.learning.transforms import (
    TASKS,
    TransformParams,
    add_noise,
    flip,
    make_pretext_batch,
    negate,
    permute,
    scale,
    time_warp,
    warped_length,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ecg_like(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """Sines plus noise with an offset: no exact zeros anywhere."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 256.0
    f = rng.uniform(1.0, 2.0, (batch, 1))
    phase = rng.uniform(0, 2 * np.pi, (batch, 1))
    x = np.sin(2 * np.pi * f * t + phase) ** 15 * 3 + 0.1 * rng.standard_normal(
        (batch, length)
    )
    x += 0.01 + rng.uniform(-0.2, 0.2, (batch, 1))
    x[x == 0] = 1e-3
    return torch.from_numpy(x.astype(np.float32))


def test_tasks_order():
    assert TASKS == (
        "original",
        "noise",
        "scale",
        "negate",
        "flip",
        "permute",
        "time_warp",
    )


def test_negate_twice_is_identity_and_scale():
    x = _ecg_like(3, 100)
    assert torch.equal(negate(negate(x)), x)
    assert torch.equal(negate(x), -x)
    assert torch.allclose(scale(x, 1.1), x * 1.1)


def test_flip_of_arange():
    x = torch.arange(10, dtype=torch.float32).repeat(2, 1)
    expected = torch.arange(9, -1, -1, dtype=torch.float32).repeat(2, 1)
    assert torch.equal(flip(x), expected)


def test_permute_moves_whole_pieces_and_keeps_tail():
    batch, length, pieces = 16, 103, 10  # piece 10 samples, tail of 3
    x = torch.arange(batch * length, dtype=torch.float32).reshape(batch, length)
    y = permute(x, pieces, _gen(1))
    assert y.shape == x.shape
    # Same multiset of values in each row.
    assert torch.equal(torch.sort(y, dim=1).values, torch.sort(x, dim=1).values)
    # The tail is untouched.
    assert torch.equal(y[:, 100:], x[:, 100:])
    # Every output piece is a whole input piece (a run of 10 consecutive values
    # starting at a multiple of 10 within its row).
    body = y[:, :100].reshape(batch, pieces, 10)
    row_start = (torch.arange(batch) * length)[:, None, None]
    local = body - row_start
    assert torch.all(local[:, :, 0] % 10 == 0)
    assert torch.all(torch.diff(body, dim=2) == 1)
    # Independent permutations per signal, and not the identity.
    orders = (local[:, :, 0] // 10).long()
    assert len({tuple(o.tolist()) for o in orders}) > 1
    assert not torch.equal(orders[0], torch.arange(pieces))


def test_permute_rejects_bad_pieces():
    x = torch.zeros(2, 5)
    with pytest.raises(ValueError, match="pieces"):
        permute(x, 6, _gen())
    with pytest.raises(ValueError, match="pieces"):
        permute(x, 0, _gen())


def test_warped_length_hand_count():
    # 2560 samples, 9 pieces of 284: 5 x ceil(298.2) + 4 x ceil(270.48) = 2579.
    assert warped_length(2560, 9, 1.05) == 5 * 299 + 4 * 271 == 2579
    # Exact products must not be rounded up by float error (10 * 1.1 = 11).
    assert warped_length(20, 2, 1.1) == 11 + math.ceil(10 / 1.1)


def test_time_warp_too_short_raises_before_drawing():
    # stretch 1 with 2560 % 9 != 0 leaves 2556 < 2560 samples: padding would be needed.
    with pytest.raises(ValueError, match="padded"):
        warped_length(2560, 9, 1.0)
    g = _gen(3)
    state = g.get_state()
    with pytest.raises(ValueError, match="padded"):
        make_pretext_batch(_ecg_like(2, 2560), TransformParams(warp_stretch=1.0), g)
    assert torch.equal(g.get_state(), state)


def test_time_warp_stretch_one_is_identity_crop():
    x = _ecg_like(4, 90)  # 9 pieces of 10: warped length 90, only crop offset 0
    y = time_warp(x, 9, 1.0, _gen(5))
    assert torch.allclose(y, x, atol=1e-6)


def _reference_warp(x: np.ndarray, pieces: int, stretch: float, keys, u) -> np.ndarray:
    """Per-signal loop with np.interp and cv2.resize's sample-centre mapping."""
    length = x.shape[1]
    piece = length // pieces
    n_long = math.ceil(pieces / 2)
    long_len = math.ceil(piece * stretch - 1e-9)
    short_len = math.ceil(piece / stretch - 1e-9)
    total = n_long * long_len + (pieces - n_long) * short_len
    out = []
    for row, key, ui in zip(x, keys, u, strict=True):
        chosen = set(np.argsort(key, kind="stable")[:n_long].tolist())
        parts = []
        for k in range(pieces):
            m = long_len if k in chosen else short_len
            src = (np.arange(m) + 0.5) * piece / m - 0.5
            parts.append(
                np.interp(src, np.arange(piece), row[k * piece : (k + 1) * piece])
            )
        warped = np.concatenate(parts)
        assert len(warped) == total
        start = min(int(np.floor(ui * (total - length + 1))), total - length)
        out.append(warped[start : start + length])
    return np.stack(out)


def test_time_warp_matches_reference_loop():
    x = _ecg_like(6, 2560)
    y = time_warp(x, 9, 1.05, _gen(11))
    # Replay the same draws: piece keys (batch, pieces), then crop offsets (batch,).
    g = _gen(11)
    keys = torch.rand((6, 9), generator=g).numpy()
    u = torch.rand((6,), generator=g).numpy()
    ref = _reference_warp(x.double().numpy(), 9, 1.05, keys, u)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-4)


def test_time_warp_of_ramp_is_piecewise_increasing():
    x = torch.arange(2560, dtype=torch.float32).repeat(8, 1)
    y = time_warp(x, 9, 1.05, _gen(2))
    assert y.shape == (8, 2560)
    assert torch.all(torch.diff(y, dim=1) >= 0)  # pieces stay in order
    assert torch.all(y[:, 0] <= 20)  # crop starts within the first 19 warped samples
    assert torch.all(y[:, -1] >= 2555 - 20)
    assert not torch.equal(y[0], y[1])  # different warps per signal


def test_noise_snr_and_per_signal_power():
    length = 100_000
    amp = torch.tensor([[0.5], [1.0], [3.0], [10.0]])
    x = _ecg_like(4, length) * amp
    for snr in (5.0, 15.0, 30.0):
        y = add_noise(x, snr, _gen(7))
        noise = y - x
        measured = 10 * torch.log10(x.pow(2).mean(1) / noise.pow(2).mean(1))
        assert torch.all((measured - snr).abs() < 0.5), measured
        assert torch.all(noise.mean(1).abs() < 0.05 * noise.std(1))


@pytest.mark.parametrize("fn", ["noise", "permute", "time_warp", "batch"])
def test_same_seed_same_output(fn):
    x = _ecg_like(5, 1024)
    params = TransformParams()

    def run(seed: int) -> torch.Tensor:
        g = _gen(seed)
        if fn == "noise":
            return add_noise(x, 15.0, g)
        if fn == "permute":
            return permute(x, 20, g)
        if fn == "time_warp":
            return time_warp(x, 9, 1.05, g)
        return make_pretext_batch(x, params, g)[0]

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_make_pretext_batch_layout_and_targets():
    batch, length = 4, 2560
    x = _ecg_like(batch, length)
    signals, targets = make_pretext_batch(x, TransformParams(), _gen(0))
    assert signals.shape == (7 * batch, length)
    assert signals.dtype == torch.float32
    assert targets.shape == (7 * batch, 7)
    assert torch.equal(targets.sum(1), torch.ones(7 * batch))
    assert torch.equal(targets.argmax(1), torch.arange(7).repeat_interleave(batch))
    v = signals.reshape(7, batch, length)
    assert torch.equal(v[0], x)
    assert torch.allclose(v[2], 1.1 * x)
    assert torch.equal(v[3], -x)
    assert torch.equal(v[4], torch.flip(x, dims=(1,)))
    assert not torch.equal(v[1], x)


def test_no_trivial_cue():
    """Same length, no new exact zeros (no padding), comparable amplitude."""
    batch, length = 8, 2560
    x = _ecg_like(batch, length, seed=4)
    assert not torch.any(x == 0)
    signals, _ = make_pretext_batch(x, TransformParams(), _gen(9))
    versions = signals.reshape(7, batch, length)
    std_in = x.std(dim=1)
    for task, v in zip(TASKS, versions, strict=True):
        assert v.shape == (batch, length), task
        assert torch.isfinite(v).all(), task
        assert not torch.any(v == 0), f"{task} has exact zeros"
        assert not torch.any(v[:, -5:] == v[:, -6:-5]), f"{task} has a constant tail"
        ratio = v.std(dim=1) / std_in
        if task == "scale":
            assert torch.allclose(ratio, torch.full_like(ratio, 1.1), rtol=1e-4)
        elif task == "noise":  # power rises by 1 + 10**-1.5
            expected = math.sqrt(1 + 10**-1.5)
            assert torch.all((ratio - expected).abs() < 0.02), ratio
        else:
            assert torch.all((ratio - 1).abs() < 0.05), (task, ratio)


def test_params_validation():
    with pytest.raises(ValueError, match="permute_pieces"):
        TransformParams(permute_pieces=0)
    with pytest.raises(TypeError, match="warp_pieces"):
        TransformParams(warp_pieces=2.5)
    with pytest.raises(ValueError, match="scale"):
        TransformParams(scale=0.0)
    with pytest.raises(ValueError, match="snr_db"):
        TransformParams(snr_db=float("nan"))
    with pytest.raises(ValueError, match="x must have shape"):
        negate(torch.zeros(3))

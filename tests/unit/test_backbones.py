"""Tests of the backbones beyond the paper's CNN: resnet1d18 and patch_transformer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from ecgssl.learning.backbones import BACKBONES, build_backbone, check_backbone_params
from ecgssl.learning.device import autocast
from ecgssl.learning.features import extract_features
from ecgssl.learning.modelfile import load_encoder, save_encoder

LENGTH = 256
SMALL = {
    "resnet1d18": {"widths": [4, 8, 8, 16]},
    "patch_transformer": {"patch": 32, "dim": 16, "depth": 2, "heads": 2},
    "paper_cnn": {"filters": [4, 8, 16], "kernels": [8, 8, 4]},
}


def _build(name: str, seed: int = 0, **over) -> torch.nn.Module:
    params = {**SMALL[name], **over}
    return build_backbone(name, params, generator=torch.Generator().manual_seed(seed))


def _x(n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, LENGTH, generator=torch.Generator().manual_seed(seed))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_registry_names_match_classes():
    assert set(BACKBONES) == {"paper_cnn", "resnet1d18", "patch_transformer"}
    for name, cls in BACKBONES.items():
        assert cls.name == name


@pytest.mark.parametrize("name", ["resnet1d18", "patch_transformer"])
def test_output_shapes(name):
    model = _build(name).eval()
    x = _x()
    out = model(x)
    assert out.shape == (3, model.n_features)
    assert torch.equal(model(x[:, None, :]), out)  # (batch, 1, length) too
    with pytest.raises(ValueError, match="shape"):
        model(x[None])


def test_default_widths_and_features():
    assert build_backbone("resnet1d18").n_features == 512
    assert build_backbone("patch_transformer").n_features == 128


@pytest.mark.parametrize("name", ["resnet1d18", "patch_transformer"])
def test_initial_weights_come_from_the_generator(name):
    torch.manual_seed(123)  # the global RNG must not matter
    a = _build(name, seed=1)
    torch.manual_seed(456)
    b = _build(name, seed=1)
    assert _same(a, b)
    assert not _same(a, _build(name, seed=2))
    for t in a.state_dict().values():
        assert torch.isfinite(t.float()).all()  # no uninitialised (meta) memory


def test_resnet_running_stats_start_fresh():
    model = _build("resnet1d18")
    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm1d):
            assert torch.equal(layer.running_mean, torch.zeros_like(layer.running_mean))
            assert torch.equal(layer.running_var, torch.ones_like(layer.running_var))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("resnet1d18", {}),
        ("resnet1d18", {"blocks": 1, "stem_kernel": 3}),
        ("patch_transformer", {}),
        ("patch_transformer", {"patch": 16, "mlp_ratio": 1.5}),
        ("paper_cnn", {}),
    ],
)
def test_flops_per_signal_match_the_flop_counter(name, params):
    model = _build(name, **params).eval()
    # The math attention backend is made of matmuls the counter sees.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(_x(2))
    assert counter.get_total_flops() == 2 * model.flops_per_signal(LENGTH)


def test_default_resnet_costs_more_than_the_paper_cnn():
    resnet = build_backbone("resnet1d18").flops_per_signal(2560)
    paper = build_backbone("paper_cnn").flops_per_signal(2560)
    assert 1.5 * paper < resnet < 2 * paper


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError, match="odd"):
        check_backbone_params("resnet1d18", {"kernels": [4, 5, 5, 3]})
    with pytest.raises(ValueError, match="unknown keys"):
        check_backbone_params("resnet1d18", {"filters": [4]})
    with pytest.raises(ValueError, match="multiple of heads"):
        check_backbone_params("patch_transformer", {"dim": 10, "heads": 4})
    model = _build("patch_transformer")
    with pytest.raises(ValueError, match="multiple of the patch length"):
        model(torch.zeros(1, LENGTH + 1))


@pytest.mark.parametrize("name", ["resnet1d18", "patch_transformer"])
def test_bf16_autocast_forward_and_backward(name):
    model = _build(name).train()
    x = _x(4)
    with autocast("cpu", "bf16"):
        out = model(x)
    assert out.dtype == torch.bfloat16
    out.float().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and g.dtype == torch.float32 for g in grads)
    reference = model.eval()(x)
    with autocast("cpu", "bf16"):
        low = model(x).float()
    assert torch.corrcoef(torch.stack([low.ravel(), reference.ravel()]))[0, 1] > 0.95


@pytest.mark.parametrize("name", ["resnet1d18", "patch_transformer"])
def test_encoder_file_round_trip_and_features(tmp_path, name):
    model = _build(name, seed=3).eval()
    path = tmp_path / "encoder.pt"
    save_encoder(path, model, {"backbone": name})
    loaded = load_encoder(path)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    windows = _x(5, seed=4).numpy()
    features = extract_features(loaded, windows, batch_size=2)
    assert features.shape == (5, model.n_features)
    assert features.dtype == np.float32
    with torch.no_grad():
        np.testing.assert_allclose(features, model(torch.from_numpy(windows)).numpy(),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip

"""Tests of the paper's network, its loss, FLOP count and file I/O."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.layers import kernel_l2
from ecgssl.learning.modelfile import (
    load_encoder,
    load_pretext_model,
    save_encoder,
    save_pretext_model,
)
from ecgssl.learning.pretext.transformation_recognition import (
    TASK_WEIGHTS,
    PretextHeads,
    PretextNet,
    pretext_loss,
)
from ecgssl.learning.transforms import TransformParams, make_pretext_batch
from ecgssl.util.errors import DataFormatError

SMALL = {"filters": (4, 6, 8), "kernels": (5, 4, 3)}


def _net(dropout: float = 0.6, seed: int = 0, **enc) -> PretextNet:
    g = torch.Generator().manual_seed(seed)
    encoder = PaperCNN(generator=g, **enc)
    heads = PretextHeads(n_features=encoder.n_features, dropout=dropout, generator=g)
    return PretextNet(encoder, heads)


def _batch(batch: int = 4, length: int = 256, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, generator=g)
    params = TransformParams(permute_pieces=8, warp_pieces=8)
    return make_pretext_batch(x, params, g)


def test_encoder_shapes_for_2560():
    encoder = PaperCNN()
    x = torch.randn(2, 2560)
    maps = encoder.feature_maps(x)
    assert [tuple(m.shape) for m in maps] == [
        (2, 32, 1277),
        (2, 64, 635),
        (2, 128, 635),
    ]
    z = encoder(x)
    assert z.shape == (2, 128)
    assert encoder.n_features == 128
    assert torch.equal(z, maps[-1].amax(dim=2))
    assert torch.equal(encoder(x[:, None, :]), z)
    with pytest.raises(ValueError, match="x must have shape"):
        encoder(torch.randn(2, 3, 2560))


def test_encoder_layers_are_the_papers():
    encoder = PaperCNN()
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (1, 32, 32),
        (32, 32, 32),
        (32, 64, 16),
        (64, 64, 16),
        (64, 128, 8),
        (128, 128, 8),
    ]
    assert all(c.stride == (1,) and c.padding == (0,) for c in convs)
    acts = [m for m in encoder.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 6
    assert all(a.negative_slope == 0.2 for a in acts)
    assert encoder.pool.kernel_size == 8
    assert encoder.pool.stride == 2
    banned = (nn.BatchNorm1d, nn.Dropout, nn.modules.batchnorm._BatchNorm)
    assert not any(isinstance(m, banned) for m in encoder.modules())


def test_same_padding_is_tensorflow_style():
    # Kernel 4: pad left 1, right 2. A kernel picking tap 0 gives y[t] = x[t - 1].
    encoder = PaperCNN(filters=(1,), kernels=(4,))
    conv = encoder.blocks[0][0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0] = 1.0
        conv.bias.zero_()
    x = torch.arange(1.0, 7.0)[None, None, :]
    assert torch.equal(conv(x)[0, 0], torch.tensor([0.0, 1, 2, 3, 4, 5]))
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 3] = 1.0  # last tap: y[t] = x[t + 2]
    assert torch.equal(conv(x)[0, 0], torch.tensor([3.0, 4, 5, 6, 0, 0]))


def test_heads_structure_and_shapes():
    heads = PretextHeads()
    assert isinstance(heads.heads, nn.ModuleList)
    assert len(heads.heads) == 7
    per_head = (128 * 128 + 128) * 2 + 128 + 1
    assert sum(p.numel() for p in heads.parameters()) == 7 * per_head
    linears = [m for m in heads.heads[0].modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (128, 128),
        (128, 128),
        (128, 1),
    ]
    assert heads(torch.randn(5, 128)).shape == (5, 7)
    net = PretextNet(PaperCNN(), heads)
    assert net(torch.randn(3, 2560)).shape == (3, 7)


def test_every_parameter_gets_a_gradient():
    net = _net()
    net.train()
    signals, targets = _batch()
    logits = net(signals, torch.Generator().manual_seed(1))
    loss, _ = pretext_loss(logits, targets, TASK_WEIGHTS, net, 0.0)
    loss.backward()
    names = [n for n, _ in net.named_parameters()]
    assert sum(n.startswith("heads.heads.") for n in names) == 7 * 6
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.any(p.grad != 0), name
    # ... and the optimizer sees them all.
    opt = torch.optim.Adam(net.parameters())
    assert sum(len(g["params"]) for g in opt.param_groups) == len(names)


def test_eval_disables_dropout_everywhere():
    net = _net()
    x = torch.randn(6, 256)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(net(x, g1), net(x, g2))  # explicit generator: reproducible


def test_one_step_reduces_loss():
    net = _net(dropout=0.0)
    signals, targets = _batch()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    before, _ = pretext_loss(net(signals), targets, TASK_WEIGHTS, net, 1e-4)
    opt.zero_grad()
    before.backward()
    opt.step()
    after, _ = pretext_loss(net(signals), targets, TASK_WEIGHTS, net, 1e-4)
    assert after.item() < before.item()


def test_l2_term_is_tf_l2_loss_of_kernels():
    net = _net(**SMALL)
    hand = 0.0
    for m in net.modules():
        if isinstance(m, nn.Conv1d | nn.Linear):
            hand += 0.5 * float((m.weight.detach().double() ** 2).sum())
    assert math.isclose(float(kernel_l2(net, half=True).detach()), hand, rel_tol=1e-5)
    logits = torch.randn(5, 7)
    targets = torch.eye(7)[torch.tensor([0, 1, 2, 3, 4])]
    base, _ = pretext_loss(logits, targets, TASK_WEIGHTS, None, 0.0)
    total, _ = pretext_loss(logits, targets, TASK_WEIGHTS, net, 0.01)
    assert math.isclose(float((total - base).detach()), 0.01 * hand, rel_tol=1e-4)
    # Biases are not penalised.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv1d | nn.Linear):
                m.bias.fill_(5.0)
    assert math.isclose(float(kernel_l2(net, half=True).detach()), hand, rel_tol=1e-5)


def test_loss_is_weighted_bce_per_head():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(9, 7, generator=g)
    targets = torch.eye(7)[torch.randint(0, 7, (9,), generator=g)]
    p = torch.sigmoid(logits.double())
    hand = -(targets * p.log() + (1 - targets) * (1 - p).log()).mean(0)
    total, per_task = pretext_loss(logits, targets, TASK_WEIGHTS, None, 0.0)
    assert torch.allclose(per_task.double(), hand, atol=1e-5)
    expected = sum(w * h for w, h in zip(TASK_WEIGHTS, hand.tolist(), strict=True))
    assert math.isclose(float(total), expected, rel_tol=1e-5)
    for k in range(7):
        onehot = [0.0] * 7
        onehot[k] = 1.0
        only_k, _ = pretext_loss(logits, targets, onehot, None, 0.0)
        assert math.isclose(float(only_k), float(hand[k]), rel_tol=1e-5)
    assert math.isclose(sum(TASK_WEIGHTS), 1.0)
    with pytest.raises(ValueError, match="weights"):
        pretext_loss(logits, targets, [1.0] * 6, None, 0.0)


def test_conv_flops_hand_count():
    encoder = PaperCNN(filters=(2, 3), kernels=(3, 2))
    # block 1 at 20 samples: 2*20*2*1*3 + 2*20*2*2*3 = 240 + 480
    # pool(8, 2): 20 -> 7; block 2: 2*7*3*2*2 + 2*7*3*3*2 = 168 + 252
    assert encoder.flops_per_signal(20) == 240 + 480 + 168 + 252
    with pytest.raises(ValueError, match="length"):
        encoder.flops_per_signal(5)


def test_init_is_explicit_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = _net(seed=1, **SMALL)
    b = _net(seed=1, **SMALL)
    c = _net(seed=2, **SMALL)
    assert torch.equal(state, torch.random.get_rng_state())
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert all(torch.all(v == 0) for k, v in sa.items() if k.endswith("bias"))


def test_save_load_round_trip(tmp_path):
    net = _net(**SMALL).eval()
    x = torch.randn(3, 128)
    path = tmp_path / "sub" / "encoder.pt"
    save_pretext_model(path, net.encoder, net.heads, {"seed": 3, "tasks": ["a"]})
    assert [p.name for p in path.parent.iterdir()] == ["encoder.pt"]  # no temp left
    encoder = load_encoder(path)
    assert isinstance(encoder, PaperCNN)
    assert not encoder.training
    assert torch.equal(encoder(x), net.encoder(x))
    enc2, heads2, meta = load_pretext_model(path)
    assert torch.equal(heads2(enc2(x)), net(x))
    assert meta == {"seed": 3, "tasks": ["a"]}
    only = tmp_path / "only.pt"
    save_encoder(only, net.encoder, {"k": 1})
    assert torch.equal(load_encoder(only)(x), net.encoder(x))
    with pytest.raises(DataFormatError, match="heads"):
        load_pretext_model(only)
    with pytest.raises(TypeError, match="meta"):
        save_encoder(tmp_path / "bad.pt", net.encoder, {"obj": object()})


class _Arbitrary:
    def __init__(self) -> None:
        self.value = 1


def _expect_refused(path):
    with pytest.raises(DataFormatError) as info:
        load_encoder(path)
    assert info.value.field == "state_dict"
    assert str(path) in str(info.value)


def test_load_encoder_refuses_non_encoders(tmp_path):
    text = tmp_path / "text.pt"
    text.write_text("not a torch file")
    _expect_refused(text)

    arbitrary = tmp_path / "pickle.pt"
    torch.save(_Arbitrary(), arbitrary)
    _expect_refused(arbitrary)

    plain = tmp_path / "plain.pt"
    torch.save(PaperCNN(**SMALL).state_dict(), plain)  # a bare state dict
    _expect_refused(plain)

    good = tmp_path / "good.pt"
    save_encoder(good, PaperCNN(**SMALL))
    obj = torch.load(good, weights_only=True)

    missing = dict(obj, encoder=dict(obj["encoder"]))
    del missing["encoder"]["blocks.0.0.weight"]
    torch.save(missing, tmp_path / "missing.pt")
    _expect_refused(tmp_path / "missing.pt")

    shapes = dict(obj, config=dict(obj["config"]))
    shapes["config"]["encoder"] = dict(shapes["config"]["encoder"], filters=[4, 6, 9])
    torch.save(shapes, tmp_path / "shapes.pt")
    _expect_refused(tmp_path / "shapes.pt")

    with pytest.raises(FileNotFoundError):
        load_encoder(tmp_path / "absent.pt")


@pytest.mark.parametrize("kernel", [1, 4, 5, 8])
def test_fast_backward_conv_matches_autograd_of_padded_conv(kernel, monkeypatch):
    # the optional CPU custom-backward path: same outputs and gradients as stock
    g = torch.Generator().manual_seed(kernel)
    conv = PaperCNN(in_channels=3, filters=(5,), kernels=(kernel,)).blocks[0][0]
    monkeypatch.setattr(type(conv), "fast_backward", True)
    monkeypatch.setattr(type(conv), "FAST_MIN_KERNEL", 1)  # every kernel size here
    x = torch.randn(4, 3, 37, generator=g, requires_grad=True)
    grad_out = torch.randn(4, 5, 37, generator=g)
    assert conv.uses_fast_backward(x)
    y_fast = conv(x)
    gx_fast, gw_fast, gb_fast = torch.autograd.grad(
        y_fast, [x, conv.weight, conv.bias], grad_out
    )
    y_ref = nn.functional.conv1d(nn.functional.pad(x, conv.pad), conv.weight, conv.bias)
    gx, gw, gb = torch.autograd.grad(y_ref, [x, conv.weight, conv.bias], grad_out)
    for fast, ref in ((y_fast, y_ref), (gx_fast, gx), (gw_fast, gw), (gb_fast, gb)):
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)


def test_encoder_gradients_do_not_depend_on_the_fast_path(monkeypatch):
    x, _ = _batch(batch=2, length=256)
    grads = []
    for fast in (True, False):
        monkeypatch.setattr(type(PaperCNN().blocks[0][0]), "fast_backward", fast)
        monkeypatch.setattr(type(PaperCNN().blocks[0][0]), "FAST_MIN_KERNEL", 1)
        encoder = PaperCNN(generator=torch.Generator().manual_seed(3), **SMALL)
        out = encoder(x)
        out.pow(2).sum().backward()
        grads.append([out.detach()] + [p.grad for p in encoder.parameters()])
    for fast, ref in zip(*grads, strict=True):
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)


def test_zero_slope_encoder_still_trains():
    # in-place LeakyReLU is off for slope 0 (autograd cannot invert it there)
    encoder = PaperCNN(negative_slope=0.0, **SMALL)
    assert not any(m.inplace for m in encoder.modules() if isinstance(m, nn.LeakyReLU))
    x, _ = _batch(batch=2, length=256)
    encoder(x).sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())

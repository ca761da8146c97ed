"""Tests of the pretext method registry: contrastive, masked reconstruction, and the
paper's method on other backbones, driven by the same loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgssl.learning.backbones import build_backbone
from ecgssl.learning.features import extract_features
from ecgssl.learning.modelfile import (
    load_encoder,
    load_pretext_model,
    save_pretext_model,
)
from ecgssl.learning.pretext import HEADS, METHODS
from ecgssl.learning.pretext.contrastive import (
    nt_xent,
    random_resized_crop,
    random_view,
)
from ecgssl.learning.pretext.masked_reconstruction import draw_mask
from ecgssl.learning.pretrain import PretextConfig, pretrain
from ecgssl.learning.transforms import TransformParams
from ecgssl.util.errors import ConfigError, DataFormatError

LENGTH = 256
BACKBONE_PARAMS = {
    "paper_cnn": {"filters": [4, 8, 16], "kernels": [8, 8, 4]},
    "resnet1d18": {"widths": [4, 8], "kernels": [7, 3], "blocks": 1},
    "patch_transformer": {"patch": 32, "dim": 16, "depth": 1, "heads": 2},
}
METHOD_PARAMS = {
    "contrastive": {"hidden": 16, "out": 8, "temperature": 0.2},
    "masked_reconstruction": {"decoder_dim": 16, "decoder_heads": 2},
    "latent_prediction": {"decoder_dim": 16, "decoder_heads": 2, "momentum": 0.9},
    "transformation_recognition": {},
}
#: (method, backbone) pairs exercised by the loop tests.
PAIRS = [
    ("contrastive", "paper_cnn"),
    ("contrastive", "resnet1d18"),
    ("masked_reconstruction", "patch_transformer"),
    ("latent_prediction", "patch_transformer"),
    ("transformation_recognition", "resnet1d18"),
    ("transformation_recognition", "patch_transformer"),
]
QUIET = lambda _: None  # noqa: E731


def _config(method: str, backbone: str, **kw) -> PretextConfig:
    base = {
        "epochs": 2,
        "batch_size": 16,
        "transforms": {"permute_pieces": 8, "warp_pieces": 8},
        "method": method,
        "backbone": backbone,
        "method_params": METHOD_PARAMS[method],
    }
    if backbone == "paper_cnn":
        base["encoder"] = BACKBONE_PARAMS[backbone]
    else:
        base["backbone_params"] = BACKBONE_PARAMS[backbone]
    base.update(kw)
    return PretextConfig.from_dict(base)


def _data(n: int = 48, n_subjects: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / 64.0
    f = rng.uniform(1.0, 2.0, (n, 1))
    x = np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (n, 1))) ** 9
    x = (x + 0.1 * rng.standard_normal((n, LENGTH))).astype(np.float32)
    subjects = np.array([f"synth/s{i % n_subjects:02d}" for i in range(n)])
    return x, subjects


def _train(config, seed=4, **kw):
    x, subjects = _data()
    return pretrain(x, subjects, config=config, seed=seed, device="cpu", **kw)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _untimed(history):
    return [
        {k: v for k, v in row.items() if k not in ("seconds", "windows_per_s")}
        for row in history
    ]


def test_registry():
    assert set(METHODS) == {
        "transformation_recognition",
        "contrastive",
        "masked_reconstruction",
        "latent_prediction",
    }
    assert set(HEADS) == set(METHODS)
    for name, cls in METHODS.items():
        assert cls.name == name


def test_config_defaults_are_the_paper_method():
    cfg = PretextConfig()
    assert (cfg.method, cfg.backbone) == ("transformation_recognition", "paper_cnn")
    assert cfg.backbone_arguments() == cfg.encoder
    over = PretextConfig.from_dict({"backbone_params": {"pool": 4}})
    assert over.backbone_arguments()["pool"] == 4


@pytest.mark.parametrize(
    ("d", "match"),
    [
        ({"method": "masked_reconstruction"}, "patch tokens"),
        ({"method": "latent_prediction", "backbone": "resnet1d18"}, "patch tokens"),
        (
            {
                "method": "latent_prediction",
                "backbone": "patch_transformer",
                "method_params": {"momentum": 1.5},
            },
            "momentum",
        ),
        ({"method": "jepa"}, "method"),
        ({"backbone": "resnet1d18", "encoder": {"filters": [8, 8, 8]}}, "encoder"),
        ({"backbone": "resnet1d18", "backbone_params": {"depth": 2}}, "unknown"),
        ({"method_params": {"temperature": 0.1}}, "unknown"),
        ({"method": "contrastive", "method_params": {"crop_min": 0}}, "crop_min"),
        (
            {
                "method": "masked_reconstruction",
                "backbone": "patch_transformer",
                "method_params": {"mask_ratio": 1.0},
            },
            "mask_ratio",
        ),
    ],
)
def test_invalid_configs_are_config_errors(d, match):
    with pytest.raises(ConfigError, match=match):
        PretextConfig.from_dict(d)


def test_random_views():
    x = torch.from_numpy(_data(4)[0])
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    # a crop of the whole window is the window itself
    torch.testing.assert_close(random_resized_crop(x, 1.0, gen()), x)
    crop = random_resized_crop(x, 0.5, gen())
    assert crop.shape == x.shape
    assert not torch.allclose(crop, x)
    params = TransformParams(permute_pieces=8, warp_pieces=8)
    a = random_view(x, params, crop_min=0.5, p_transform=0.5, generator=gen())
    b = random_view(x, params, crop_min=0.5, p_transform=0.5, generator=gen())
    assert torch.equal(a, b)
    assert a.shape == x.shape
    # with no transformation and no crop, the view is the window
    same = random_view(x, params, crop_min=1.0, p_transform=0.0, generator=gen())
    torch.testing.assert_close(same, x)


def test_nt_xent_prefers_matching_views():
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    aligned = nt_xent(z, z, 0.1)
    shuffled = nt_xent(z, z[torch.arange(7, -1, -1)], 0.1)
    assert aligned < shuffled
    assert torch.isclose(
        nt_xent(torch.ones(3, 2), torch.ones(3, 2), 1.0), torch.log(torch.tensor(5.0))
    )  # all similarities equal: 1 positive among 5 candidates


def test_mask_draw():
    keep, masked = draw_mask(5, 8, 0.75, torch.Generator().manual_seed(1))
    assert keep.shape == (5, 2)
    assert masked.sum(dim=1).tolist() == [6] * 5
    assert not masked.gather(1, keep).any()
    assert (keep.diff(dim=1) > 0).all()
    keep, masked = draw_mask(2, 4, 0.99, torch.Generator().manual_seed(1))
    assert keep.shape == (2, 1)  # at least one patch kept


@pytest.mark.parametrize(("method", "backbone"), PAIRS)
def test_loss_falls_on_a_fixed_batch(method, backbone):
    cfg = _config(method, backbone)
    encoder = build_backbone(
        backbone, cfg.backbone_arguments(), generator=torch.Generator().manual_seed(0)
    )
    m = METHODS[method].build(
        encoder, cfg, generator=torch.Generator().manual_seed(1),
        device=torch.device("cpu"), precision="fp32",
    )  # fmt: skip
    optimizer = torch.optim.Adam(m.model.parameters(), lr=3e-3)
    x = torch.from_numpy(_data(4)[0])
    losses = []
    for _ in range(20):  # the same views, masks and dropout at every step
        gens = {k: torch.Generator().manual_seed(5) for k in ("augment", "dropout")}
        optimizer.zero_grad()
        losses.append(float(m.step(x, gens, None)))
        optimizer.step()
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize(("method", "backbone"), PAIRS)
def test_pretrain_is_deterministic_and_scored(method, backbone):
    cfg = _config(method, backbone, epochs=1)
    runs = [_train(cfg, seed=s, log=QUIET) for s in (7, 7, 8)]
    assert _same(runs[0].encoder, runs[1].encoder)
    assert _same(runs[0].heads, runs[1].heads)
    assert _untimed(runs[0].history) == _untimed(runs[1].history)
    assert not _same(runs[0].encoder, runs[2].encoder)
    row = runs[0].history[-1]
    assert np.isfinite(row["train_loss"])
    assert np.isfinite(row["val_loss"])
    meta = runs[0].meta()
    assert (meta["method"], meta["backbone"]) == (method, backbone)
    assert meta["backbone_config"] == runs[0].encoder.config
    assert meta["validation"]["val_loss"] == row["val_loss"]
    if method == "contrastive":
        assert 0.0 <= row["val_top1"] <= 1.0
    if method == "masked_reconstruction":
        assert row["val_r2"] <= 1.0
    if method == "latent_prediction":
        assert -1.0 <= row["val_cosine"] <= 1.0
    assert (runs[0].val_scores is None) == (method != "transformation_recognition")


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize(
    ("method", "backbone"),
    [
        ("contrastive", "resnet1d18"),
        ("masked_reconstruction", "patch_transformer"),
        ("latent_prediction", "patch_transformer"),  # the EMA target resumes too
    ],
)
def test_resume_equals_uninterrupted_run(tmp_path, method, backbone):
    cfg = _config(method, backbone, epochs=2)
    full = _train(cfg, log=QUIET)
    ckpt = tmp_path / "pretext.pt"

    def killer(line: str) -> None:
        if line.startswith("pretext epoch 1/2: train loss"):  # after its checkpoint
            raise _Interrupt

    with pytest.raises(_Interrupt):
        _train(cfg, log=killer, checkpoint_path=ckpt)
    lines: list[str] = []
    resumed = _train(cfg, log=lines.append, checkpoint_path=ckpt)
    assert any("resuming" in line and "epoch 1" in line for line in lines)
    assert sum("train loss" in line for line in lines) == 1  # only epoch 2 ran
    assert _same(full.encoder, resumed.encoder)
    assert _same(full.heads, resumed.heads)
    assert _untimed(full.history) == _untimed(resumed.history)


def test_latent_target_is_a_moving_average_without_gradient():
    cfg = _config("latent_prediction", "patch_transformer")
    encoder = build_backbone(
        "patch_transformer", cfg.backbone_arguments(),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    m = METHODS["latent_prediction"].build(
        encoder, cfg, generator=torch.Generator().manual_seed(1),
        device=torch.device("cpu"), precision="fp32",
    )  # fmt: skip
    optimizer = torch.optim.Adam(m.model.parameters(), lr=1e-2)
    x = torch.from_numpy(_data(4)[0])
    gens = {"augment": torch.Generator().manual_seed(2)}
    m.step(x, gens, None)
    assert all(p.grad is None for p in m.model.target.parameters())
    for t, e in zip(m.model.target.parameters(), m.model.encoder.parameters(),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(t, e)  # the first update leaves it equal
    optimizer.step()
    before = [p.clone() for p in m.model.target.parameters()]
    online = [p.detach().clone() for p in m.model.encoder.parameters()]
    optimizer.zero_grad()
    m.step(x, gens, None)
    for t, b, o in zip(m.model.target.parameters(), before, online, strict=True):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o)


def test_checkpoint_of_another_method_is_not_reused(tmp_path):
    ckpt = tmp_path / "pretext.pt"
    _train(_config("contrastive", "resnet1d18", epochs=1), log=QUIET,
           checkpoint_path=ckpt)  # fmt: skip
    lines: list[str] = []
    _train(_config("transformation_recognition", "resnet1d18", epochs=1),
           log=lines.append, checkpoint_path=ckpt)  # fmt: skip
    assert not any("resuming" in line for line in lines)


@pytest.mark.parametrize(("method", "backbone"), PAIRS[1:4])
def test_bf16_pretraining_runs(method, backbone):
    result = _train(_config(method, backbone, epochs=1), log=QUIET, precision="bf16")
    assert result.precision == "bf16"
    assert np.isfinite(result.history[-1]["train_loss"])
    assert all(p.dtype == torch.float32 for p in result.encoder.parameters())


@pytest.mark.parametrize("method", ["masked_reconstruction", "latent_prediction"])
def test_masked_micro_batches_give_the_one_pass_gradient(method):
    cfg = _config(method, "patch_transformer")
    grads = []
    for micro in (None, 3):
        encoder = build_backbone(
            "patch_transformer", cfg.backbone_arguments(),
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        m = METHODS[method].build(
            encoder, cfg, generator=torch.Generator().manual_seed(1),
            device=torch.device("cpu"), precision="fp32",
        )  # fmt: skip
        x = torch.from_numpy(_data(8)[0])
        loss = m.step(x, {"augment": torch.Generator().manual_seed(2)}, micro)
        trained = [p for p in m.model.parameters() if p.requires_grad]
        grads.append((loss, [p.grad.clone() for p in trained]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("method", "backbone"), PAIRS[1:4])
def test_model_file_feeds_downstream_features(tmp_path, method, backbone):
    result = _train(_config(method, backbone, epochs=1), log=QUIET)
    path = tmp_path / "encoder.pt"
    save_pretext_model(path, result.encoder, result.heads, result.meta())
    encoder = load_encoder(path)
    assert encoder.name == backbone
    x = _data(6, seed=3)[0]
    features = extract_features(encoder, x, batch_size=4)
    assert features.shape == (6, result.encoder.n_features)
    with torch.no_grad():
        expected = result.encoder.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    enc, heads, meta = load_pretext_model(path, method=method)
    assert _same(heads, result.heads)
    assert meta["method"] == method
    with pytest.raises(DataFormatError, match="pretext method"):
        load_pretext_model(path)  # the paper's heads asked for

"""Benchmark every pretext method x backbone: training signals/s and FLOP efficiency.

    .venv/bin/python bench/bench_methods.py [--out results/bench/methods.json]
        [--steps 3] [--batch 16] [--device cpu]

``make bench`` runs it through bench/bench.py (its ``methods`` entry). Each pair
the registry allows is timed over ``steps`` full training steps (views or masks
drawn on the fly, forward, loss, backward, Adam) after one untimed warm-up step, at
the defaults of the backbone on 2560-sample windows, in fp32 and, where
:func:`ecgssl.learning.device.cpu_info` reports native bf16 (or on a CUDA device
with bf16), in bf16.

Figures per pair and precision: ``signals_per_s`` (the signals the encoder sees:
7 per window for transformation recognition, 2 views for contrastive, 1 for the
masked methods) and ``flop_efficiency`` = ``3 * flops_per_signal * signals/s /
gemm rate`` (forward plus a backward of twice its cost, against the fp32 matmul
rate of :func:`bench.gemm_gflops`). For the masked methods the encoder sees
only the visible quarter of the patches, so that nominal efficiency overstates what
ran (it counts the full window) and leaves out the decoder (and, for latent
prediction, the target encoder's forward pass); heads are left out for
every method. ``counted_efficiency`` uses instead the FLOPs that
:class:`torch.utils.flop_counter.FlopCounterMode` counts in one whole training
step (forward and backward, heads, projection or decoder included) per window.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from ecgssl.learning.backbones import BACKBONES, build_backbone
from ecgssl.learning.device import cpu_info, set_threads
from ecgssl.learning.pretext import METHODS
from ecgssl.learning.pretrain import PretextConfig
from ecgssl.learning.tuning import DEFAULT_MICRO_BATCH

LENGTH = 2560
#: Signals the encoder sees per window, by method.
SIGNALS_PER_WINDOW = {
    "transformation_recognition": 7,
    "contrastive": 2,
    "masked_reconstruction": 1,
    "latent_prediction": 1,
}


def _bf16_native(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(cpu_info()["bf16_native"])


def pairs() -> list[tuple[str, str]]:
    """Every (method, backbone) pair the registry allows."""
    return [
        (method, backbone)
        for backbone, cls in BACKBONES.items()
        for method, mcls in METHODS.items()
        if mcls.unsupported(cls) is None
    ]


def _method(method: str, backbone: str, device: torch.device, precision: str):
    config = PretextConfig.from_dict({"method": method, "backbone": backbone})
    gen = torch.Generator().manual_seed(0)
    encoder = build_backbone(backbone, config.backbone_arguments(), generator=gen)
    return METHODS[method].build(
        encoder, config, generator=gen, device=device, precision=precision
    )


def _generators(device: torch.device) -> dict[str, torch.Generator]:
    return {
        "augment": torch.Generator(device=device).manual_seed(1),
        "dropout": torch.Generator(device=device).manual_seed(2),
    }


def step_flops_per_window(method: str, backbone: str) -> float:
    """FLOPs of one training step (forward + backward) per window, as counted.

    Counted by :class:`~torch.utils.flop_counter.FlopCounterMode` on two windows
    (attention through the math backend, whose matmuls it sees).
    """
    m = _method(method, backbone, torch.device("cpu"), "fp32")
    x = torch.randn(2, LENGTH, generator=torch.Generator().manual_seed(3))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        m.step(x, _generators(torch.device("cpu")), None)
    return counter.get_total_flops() / 2


def step_seconds(
    method: str,
    backbone: str,
    *,
    precision: str,
    steps: int,
    batch: int,
    device: torch.device,
) -> list[float]:
    """Seconds of each of ``steps`` training steps after one warm-up step."""
    m = _method(method, backbone, device, precision)
    optimizer = torch.optim.Adam(m.model.parameters(), lr=1e-3)
    generators = _generators(device)
    gen = torch.Generator().manual_seed(0)
    micro = DEFAULT_MICRO_BATCH if device.type == "cpu" else None
    x = torch.randn(batch, LENGTH, generator=gen).to(device)
    out = []
    for _ in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        float(m.step(x, generators, micro))
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return out[1:]


def methods(
    *, steps: int, batch: int, gemm_gflops: float, device: torch.device
) -> dict[str, Any]:
    """Signals/s and FLOP efficiency per method x backbone x precision."""
    precisions = ["fp32"] + (["bf16"] if _bf16_native(device) else [])
    res: dict[str, Any] = {
        "batch_windows": batch,
        "length": LENGTH,
        "device": str(device),
        "gemm_gflops": gemm_gflops,
        "precisions": precisions,
        "pairs": {},
    }
    for method, backbone in pairs():
        flops = build_backbone(backbone).flops_per_signal(LENGTH)
        counted = step_flops_per_window(method, backbone)
        entry: dict[str, Any] = {
            "fwd_flops_per_signal": flops,
            "counted_step_flops_per_window": counted,
        }
        for precision in precisions:
            seconds = step_seconds(
                method, backbone, precision=precision, steps=steps, batch=batch,
                device=device,
            )  # fmt: skip
            signals = [SIGNALS_PER_WINDOW[method] * batch / t for t in seconds]
            rate = statistics.median(signals)
            entry[precision] = {
                "signals_per_s": {"median": rate, "runs": signals},
                "flop_efficiency": 3 * flops * rate / (gemm_gflops * 1e9),
                "counted_efficiency": counted
                * rate
                / SIGNALS_PER_WINDOW[method]
                / (gemm_gflops * 1e9),
            }
            print(
                f"{method:28} {backbone:18} {precision:5} {rate:10.1f} signals/s "
                f"efficiency {entry[precision]['flop_efficiency']:.3f} "
                f"(counted {entry[precision]['counted_efficiency']:.3f})",
                flush=True,
            )
        res["pairs"][f"{method}/{backbone}"] = entry
    return res


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench import gemm_gflops

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/bench/methods.json"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    set_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        n = 8192
        a = torch.randn(n, n, device=device)
        for _ in range(3):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            a @ a
            torch.cuda.synchronize()
        gemm = 2 * n**3 / (time.perf_counter() - t0) / 1e9
    else:
        gemm = gemm_gflops(3)["median"]
    print(f"gemm {gemm:.0f} GFLOP/s (fp32), load {os.getloadavg()}", flush=True)
    res = methods(steps=args.steps, batch=args.batch, gemm_gflops=gemm, device=device)
    res["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

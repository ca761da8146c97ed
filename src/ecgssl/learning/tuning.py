"""Run-time choices that depend on the CPU: short timing probes, cached per machine.

The fastest way to run the same arithmetic differs between CPUs (an AVX-512 EPYC,
a Xeon with an AMX bf16 engine, a laptop) and between fp32 and bf16 on the same CPU.
Rather than hard-coding one machine's optimum, a probe times the candidates once and
the answer is cached in ``~/.cache/ecgssl/`` (``$XDG_CACHE_HOME``), keyed by the CPU
model, the torch version, the thread count and the precision.

Only the speed depends on these choices: the micro-batch of a pretext step gives the
one-pass loss and gradient (see
:func:`ecgssl.learning.pretext.transformation_recognition.forward_backward`); the
size chosen is recorded in the encoder's sidecar.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ecgssl.learning.device import PROBE_ENV, cpu_info
from ecgssl.util.checks import check_option

__all__ = [
    "DEFAULT_MICRO_BATCH",
    "MICRO_BATCH_CANDIDATES",
    "cached_probe",
    "pretext_micro_batch",
]

logger = logging.getLogger(__name__)

#: Micro-batch used where the probe is switched off (``ECGSSL_PRECISION_PROBE=0``).
#: On a 2-core Xeon with AMX-BF16 (torch 2.13) the paper network's step measured,
#: in signals/s: fp32 32 -> 80, 64 -> 83, 112 -> 71, 224 -> 68; bf16 32 -> 252,
#: 64 -> 235, 112 -> 231, 224 -> 182. On a 2-core AVX-512 EPYC: fp32 32 -> ~120,
#: 64 -> ~115, 128 -> ~87, one pass of 896 -> ~72.
DEFAULT_MICRO_BATCH = 32
#: Signals per chunk the probe compares (larger ones cost memory and never won).
MICRO_BATCH_CANDIDATES = (32, 64, 128)


def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecgssl" / "tuning.json"


def cached_probe(key: str, probe: Callable[[], Any]) -> Any:
    """``probe()``'s answer for ``key``, measured once per machine and cached.

    ``key`` is prefixed with the CPU model, torch version and thread count. A cache
    that cannot be read or written only means probing again next time.
    """
    full = f"{cpu_info()['model']}|torch {torch.__version__}|"
    full += f"{torch.get_num_threads()} threads|{key}"
    path = _cache_path()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if not isinstance(cached, dict):
        cached = {}
    if full in cached:
        return cached[full]
    value = probe()
    cached[full] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(cached, indent=1))
        tmp.replace(path)  # concurrent jobs: last writer wins, never a torn file
    except OSError as err:
        logger.debug("probe %s not cached: %s", key, err)
    return value


def pretext_micro_batch(
    precision: str,
    *,
    candidates: Sequence[int] = MICRO_BATCH_CANDIDATES,
    length: int = 2560,
) -> int:
    """Signals per forward/backward chunk of a CPU pretext step, fastest here.

    Times one forward and backward of the paper network (encoder and the seven
    heads) on a chunk of each candidate size, best of two, after a warm-up, at the
    current thread count and ``precision``; about 6 s in fp32 and 2 s in bf16 on 2
    cores, once per machine (cached). With ``ECGSSL_PRECISION_PROBE=0`` it returns
    :data:`DEFAULT_MICRO_BATCH` without probing.

    Parameters
    ----------
    precision : {"fp32", "bf16"}
        A resolved precision.
    candidates : sequence of int
        Chunk sizes to compare.
    length : int
        Samples per window.

    Returns
    -------
    int
    """
    check_option(precision, ("fp32", "bf16"), "precision")
    if os.environ.get(PROBE_ENV, "1") == "0":
        return DEFAULT_MICRO_BATCH
    sizes = sorted({int(c) for c in candidates})
    key = f"pretext_micro_batch|{precision}|{length}|{','.join(map(str, sizes))}"
    return int(cached_probe(key, lambda: _probe(precision, sizes, length)))


def _probe(precision: str, sizes: list[int], length: int) -> int:
    # imported here: the probe is the only user, and the module stays light
    from ecgssl.learning.backbones.paper_cnn import PaperCNN
    from ecgssl.learning.pretext.transformation_recognition import (
        TASK_WEIGHTS,
        PretextHeads,
        PretextNet,
        forward_backward,
    )

    gen = torch.Generator().manual_seed(0)
    model = PretextNet(PaperCNN(generator=gen), PretextHeads(generator=gen)).train()
    weights = torch.tensor(TASK_WEIGHTS)
    cpu = torch.device("cpu")
    rates = {}
    for i, size in enumerate(sizes):
        x = torch.randn(size, length, generator=gen)
        targets = torch.randint(0, 2, (size, len(TASK_WEIGHTS)), generator=gen)
        best = float("inf")
        for _ in range(3 if i == 0 else 2):  # the first round also warms up
            t0 = time.perf_counter()
            forward_backward(
                model, x, targets.float(), weights, 1e-4, gen, size, cpu, precision
            )
            best = min(best, time.perf_counter() - t0)
            model.zero_grad(set_to_none=True)
        rates[size] = size / best
    choice = max(sizes, key=lambda s: rates[s])
    logger.info(
        "pretext micro-batch probe (%s): %s signals/s -> %d",
        precision,
        ", ".join(f"{s}: {r:.0f}" for s, r in rates.items()),
        choice,
    )
    return choice

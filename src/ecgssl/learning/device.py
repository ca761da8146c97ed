"""The compute device, its precision (fp32 or bf16) and the number of CPU threads."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ecgssl.util.checks import check_int, check_option

__all__ = [
    "PRECISIONS",
    "THREAD_ENV_VARS",
    "autocast",
    "bf16_faster_on_cpu",
    "cpu_info",
    "resolve_precision",
    "select_device",
    "set_threads",
]

logger = logging.getLogger(__name__)

_CHOICES = ("auto", "cpu", "cuda", "mps")

#: Environment variables that cap BLAS/OpenMP thread pools (as Snakemake sets them).
THREAD_ENV_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(preference: str = "auto") -> torch.device:
    """Resolve a device preference to a ``torch.device``.

    Parameters
    ----------
    preference : {"auto", "cpu", "cuda", "mps"} or "cuda:N"
        "auto" picks CUDA if available, else Apple MPS if available, else the CPU.
        An explicit accelerator that is not available is an error (no silent
        fallback to a much slower device).

    Returns
    -------
    torch.device
    """
    if not isinstance(preference, str):
        raise TypeError(f"preference must be a str, got {type(preference).__name__}")
    pref = preference.strip().lower()
    base, _, index = pref.partition(":")
    if base not in _CHOICES or (index and (base != "cuda" or not index.isdigit())):
        raise ValueError(
            f"preference must be one of {_CHOICES} or 'cuda:N', got {preference!r}"
        )
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"preference={preference!r} but CUDA is not available")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"preference={preference!r} but only {torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
        return torch.device(pref)
    if base == "mps" and not _mps_available():
        raise ValueError(f"preference={preference!r} but MPS is not available")
    return torch.device(base)


def set_threads(n: int) -> None:
    """Limit torch's CPU threads, e.g. to a Snakemake job's ``threads``.

    Parameters
    ----------
    n : int
        Intra-op threads (>= 1). The inter-op pool is set to the same number when
        torch still allows it (it can be set only once, before any parallel work);
        otherwise it is left as it is.
    """
    check_int(n, "n", minimum=1)
    # BLAS/OpenMP pools read these when they start: this covers child processes.
    # For the job's own numpy/SciPy BLAS, Snakemake already sets them to the job's
    # threads before a script: job starts (snakemake/shell.py), i.e. before import.
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n)
    torch.set_num_threads(n)
    # The setter is set_num_interop_threads in PyTorch (older: set_interop_threads).
    setter = getattr(torch, "set_num_interop_threads", None) or getattr(
        torch, "set_interop_threads", None
    )
    if setter is not None and torch.get_num_interop_threads() != n:
        try:
            setter(n)
        except RuntimeError as err:
            logger.debug(
                "inter-op threads left at %d: %s", torch.get_num_interop_threads(), err
            )


#: Precision settings (``precision`` in the config).
PRECISIONS = ("auto", "fp32", "bf16")
#: ``/proc/cpuinfo`` flags of a native bf16 matrix engine.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
#: Set to 0 to skip the timing probe of ``precision: auto`` (auto then trusts the
#: CPU flags alone).
PROBE_ENV = "ECGSSL_PRECISION_PROBE"


def cpu_info(text: str | None = None) -> dict[str, object]:
    """Model name and the relevant flags of this CPU (Linux ``/proc/cpuinfo``).

    Parameters
    ----------
    text : str or None
        The contents of a ``/proc/cpuinfo``; None reads this machine's.

    Returns
    -------
    dict
        ``model`` (str, "unknown" where it cannot be read), ``flags`` (sorted list of
        the bf16/AVX-512/AMX flags present) and ``bf16_native`` (bool).
    """
    model, flags = "unknown", set()
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    relevant = sorted(f for f in flags if f.startswith(("amx", "avx512")))
    return {
        "model": model,
        "flags": relevant,
        "bf16_native": any(f in flags for f in BF16_CPU_FLAGS),
    }


def _probe_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecgssl" / "precision-probe.json"


def bf16_faster_on_cpu(backbone: str = "paper_cnn") -> bool:
    """Whether bf16 autocast runs a backbone's training step faster here.

    A short probe (a second or two): forward and backward on a small batch, fp32
    against bf16 autocast, at the current thread count; for the paper network its
    two first-block convolutions, for another registered backbone the whole of it
    with its default settings (a transformer of small width can be slower in bf16
    on a CPU whose convolutions gain threefold). The answer is cached per CPU model,
    torch version, thread count and backbone in
    ``~/.cache/ecgssl/precision-probe.json``.
    """
    import json
    import time

    key = f"{cpu_info()['model']}|{torch.__version__}|{torch.get_num_threads()}"
    if backbone != "paper_cnn":
        key += f"|{backbone}"
    path = _probe_cache_path()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and isinstance(cached.get(key), bool):
        return cached[key]
    gen = torch.Generator().manual_seed(0)
    if backbone == "paper_cnn":
        conv = torch.nn.Sequential(
            torch.nn.Conv1d(1, 32, 32, padding=16),
            torch.nn.Conv1d(32, 32, 32, padding=16),
        )
        x = torch.randn(16, 1, 2560, generator=gen)
    else:  # imported here: the registry imports the networks
        from ecgssl.learning.backbones import build_backbone

        conv = build_backbone(backbone, generator=gen).train()
        x = torch.randn(16, 2560, generator=gen)

    def step(enabled: bool) -> float:
        best = float("inf")
        for _ in range(4):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
                out = conv(x)
            out.float().square().mean().backward()
            best = min(best, time.perf_counter() - t0)
        return best

    step(False), step(True)  # warm-up: oneDNN picks its kernels
    faster = step(True) < 0.8 * step(False)
    cached = cached if isinstance(cached, dict) else {}
    cached[key] = faster
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, indent=1))
    except OSError as err:  # a read-only home: probe again next time
        logger.debug("precision probe not cached: %s", err)
    return faster


def resolve_precision(
    preference: str, device: torch.device | str, backbone: str = "paper_cnn"
) -> str:
    """The precision a run on ``device`` uses: ``"fp32"`` or ``"bf16"``.

    Parameters
    ----------
    preference : {"auto", "fp32", "bf16"}
        ``auto``: bf16 on a CUDA device that supports it, and on a CPU with a native
        bf16 matrix engine (AMX-BF16 or AVX512-BF16) where :func:`bf16_faster_on_cpu`
        finds it faster for ``backbone``; fp32 everywhere else (never slower
        than fp32).
        ``bf16`` where the hardware lacks native bf16 is an error, not a silent
        emulation.
    device : torch.device or str
    backbone : str
        The network that will run (a key of the backbone registry), for the CPU
        probe.

    Returns
    -------
    str
    """
    check_option(preference, PRECISIONS, "precision")
    device = torch.device(device)
    if preference == "fp32":
        return "fp32"
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        supported = bool(cpu_info()["bf16_native"])
    else:
        supported = False
    if preference == "bf16":
        if not supported:
            raise ValueError(
                f"precision 'bf16' asked for, but {device.type} here has no native "
                "bf16 support (CPU flags amx_bf16/avx512_bf16, or a CUDA device with "
                "bf16); use 'auto' or 'fp32'"
            )
        return "bf16"
    if not supported:
        return "fp32"
    if device.type == "cpu" and os.environ.get(PROBE_ENV, "1") != "0":
        return "bf16" if bf16_faster_on_cpu(backbone) else "fp32"
    return "bf16"


def autocast(device: torch.device | str, precision: str = "fp32") -> torch.autocast:
    """Mixed-precision context for training and inference on ``device``.

    With ``precision="bf16"``: convolutions and matmuls in bfloat16, reductions,
    the loss and the (master) weights and optimiser state in float32; bf16 needs no
    loss scaling. With ``"fp32"`` it is disabled, and results stay bit-for-bit
    float32.

    Parameters
    ----------
    device : torch.device or str
        Where the model runs.
    precision : {"fp32", "bf16"}
        A resolved precision (see :func:`resolve_precision`).

    Returns
    -------
    torch.autocast
        Use as ``with autocast(device, precision): ...``.
    """
    check_option(precision, ("fp32", "bf16"), "precision")
    device = torch.device(device)
    return torch.autocast(
        device_type=device.type,
        dtype=torch.bfloat16,
        enabled=precision == "bf16",
    )

"""Choosing the compute device and the number of CPU threads torch uses."""

from __future__ import annotations

import logging
import os

import torch

from ecgssl.util.checks import check_int

__all__ = ["THREAD_ENV_VARS", "autocast", "select_device", "set_threads"]

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


def autocast(device: torch.device | str) -> torch.autocast:
    """Mixed-precision context for training and inference on ``device``.

    bfloat16 autocast on CUDA (convolutions and matmuls in bf16, reductions and the
    loss in float32; bf16 needs no loss scaling); disabled elsewhere, so CPU results
    stay bit-for-bit float32.

    Parameters
    ----------
    device : torch.device or str
        Where the model runs.

    Returns
    -------
    torch.autocast
        Use as ``with autocast(device): ...``.
    """
    device = torch.device(device)
    return torch.autocast(
        device_type=device.type,
        dtype=torch.bfloat16,
        enabled=device.type == "cuda",
    )

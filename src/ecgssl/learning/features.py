"""Apply a trained encoder: preprocessing of new ECG and batched feature extraction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ecgssl.data.readers.base import Recording
from ecgssl.learning.device import autocast

if TYPE_CHECKING:
    from ecgssl.data.preprocess import PreprocessConfig

__all__ = ["CPU_BATCH", "GPU_BATCH", "extract_features", "prepare_windows"]


def prepare_windows(
    x: np.ndarray, *, fs: float, config: PreprocessConfig | None = None
) -> np.ndarray:
    """Preprocess new ECG of one person exactly as the window stores are built.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,) or (n_windows, n_samples_per_window)
        A 1-D recording, or an array of windows (each ``window_s`` seconds at ``fs``).
        Both go through :func:`ecgssl.data.preprocess.process_subject`: resampling,
        zero-phase filtering, one z-score over all of the input, windowing and QC.
        Windows of a recording that fail QC (missing, clipped or flat samples) are
        dropped; for an array of windows that is an error, so that output rows stay
        aligned with input rows.
    fs : float
        Sampling rate of ``x`` in Hz.
    config : PreprocessConfig, optional
        Defaults to the paper's settings (256 Hz, 0.8 Hz high-pass, 10-s windows).

    Returns
    -------
    np.ndarray, shape (n_windows, window_size)
        float32 windows ready for the encoder.
    """
    # scipy.signal and MNE only here: fine-tune jobs import this module for
    # normalise_per_subject and should not pay for them
    from ecgssl.data.preprocess import PreprocessConfig, process_subject

    cfg = config or PreprocessConfig()
    x = np.asarray(x, dtype=np.float64)
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs must be a positive rate in Hz, got {fs!r}")
    if x.ndim not in (1, 2) or x.size == 0:
        raise ValueError(
            "input must be a non-empty 1-D recording or a 2-D array of windows, "
            f"got shape {x.shape}"
        )
    rows = x[None, :] if x.ndim == 1 else x
    if x.ndim == 2 and abs(rows.shape[1] * cfg.fs / fs - cfg.window_size) > 0.5:
        raise ValueError(
            f"windows must hold {cfg.window_s:g} s of signal at fs={fs:g} Hz "
            f"({cfg.window_s * fs:g} samples each), got {rows.shape[1]} samples"
        )
    recordings = [
        Recording("input", "input", f"{i:06d}", fs, row, {}, Path("<input>"))
        for i, row in enumerate(rows)
    ]
    parts = list(process_subject(recordings, config=cfg, label_columns=()))
    for i, (_, ecg, qc) in enumerate(parts):
        if x.ndim == 2 and ecg.shape[0] != 1:
            raise ValueError(f"window {i} fails quality control ({_qc_reason(qc)})")
        if x.ndim == 1 and ecg.shape[0] == 0:
            raise ValueError(f"no usable window in the recording ({_qc_reason(qc)})")
    return np.concatenate([ecg for _, ecg, _ in parts])


def _qc_reason(qc: dict) -> str:
    if qc["status"] != "ok":
        return qc["status"].replace("_", " ")
    counts = {k: qc[f"n_{k}"] for k in ("nan", "clipped", "flat") if qc[f"n_{k}"]}
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "no full window"


#: Default windows per forward pass on the CPU. Measured on a 2-core AVX-512 CPU
#: (torch 2.13, oneDNN): 16-64 -> ~530-570 windows/s, 128 -> ~420, 256 -> ~295.
CPU_BATCH = 32
#: Default windows per forward pass on a GPU.
GPU_BATCH = 256


@torch.inference_mode()
def extract_features(
    encoder: nn.Module,
    windows: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    batch_size: int | None = None,
) -> np.ndarray:
    """Encode windows batch by batch with a frozen encoder in eval mode.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(batch, length)`` float32 to ``(batch, n_features)``.
    windows : array_like, shape (n_windows, length)
        float32 windows (a memory-mapped array is read batch by batch).
    device : torch.device or str
        Where to run.
    batch_size : int or None
        Windows per forward pass; None: :data:`CPU_BATCH` on the CPU, where small
        batches keep the activations in cache, else :data:`GPU_BATCH`.

    Returns
    -------
    np.ndarray, shape (n_windows, n_features)
        float32 features.
    """
    device = torch.device(device)
    if batch_size is None:
        batch_size = CPU_BATCH if device.type == "cpu" else GPU_BATCH
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if windows.ndim != 2:
        raise ValueError(
            f"windows must be 2-D (n_windows, length), got {windows.shape}"
        )
    encoder = encoder.to(device).eval()
    n_features = int(encoder.n_features)
    out = np.empty((windows.shape[0], n_features), dtype=np.float32)
    for start in range(0, windows.shape[0], batch_size):
        # a writable copy of one batch (memory-mapped stores are read-only)
        chunk = np.array(windows[start : start + batch_size], dtype=np.float32)
        batch = torch.from_numpy(chunk)
        if device.type == "cuda":  # pinned host memory: asynchronous copy
            batch = batch.pin_memory()
        batch = batch.to(device, non_blocking=True)
        with autocast(device):  # bf16 on CUDA, a no-op on the CPU
            out[start : start + len(chunk)] = encoder(batch).float().cpu().numpy()
    return out


def normalise_per_subject(features: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Z-score every feature within each subject, over all of that subject's windows.

    The feature-level counterpart of the paper's per-user z-score of the signal: it
    uses each person's own (unlabelled) windows and no label, and removes the
    person-specific offset that dominates frozen features across people.

    Parameters
    ----------
    features : np.ndarray, shape (n_windows, n_features)
        Frozen features of all windows of a dataset.
    subjects : np.ndarray, shape (n_windows,)
        Subject of each window.

    Returns
    -------
    np.ndarray, shape (n_windows, n_features)
        float32; features constant within a subject become 0.
    """
    x = np.asarray(features, dtype=np.float64)
    subjects = np.asarray(subjects)
    if x.ndim != 2 or subjects.shape != (x.shape[0],):
        raise ValueError(
            f"features must be (n, f) and subjects (n,): {x.shape}, {subjects.shape}"
        )
    out = np.empty_like(x)
    for subject in np.unique(subjects):
        rows = subjects == subject
        mean, std = x[rows].mean(axis=0), x[rows].std(axis=0)
        out[rows] = (x[rows] - mean) / np.where(std > 0, std, 1.0)
    return out.astype(np.float32)

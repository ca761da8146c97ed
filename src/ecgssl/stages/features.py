"""Features stage: frozen encoder features of every window of a store."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ecgssl.data.store import iter_ecg
from ecgssl.learning.device import resolve_precision, select_device
from ecgssl.learning.features import extract_features
from ecgssl.learning.modelfile import load_encoder
from ecgssl.util.atomic import atomic_path

log = logging.getLogger(__name__)


def features_stage(
    model_path: Path,
    store: Path,
    out_path: Path,
    *,
    device: str,
    precision: str = "auto",
    batch_size: int | None = None,
) -> None:
    """Frozen features of every window of a store, row-aligned with it (``.npy``)."""
    dev = select_device(device)
    encoder = load_encoder(model_path, map_location=dev)
    resolved = resolve_precision(precision, dev, encoder.name)
    t0 = time.perf_counter()
    # streamed block by block: memory is one block of windows, not the whole store
    parts = [
        extract_features(
            encoder, block, device=dev, batch_size=batch_size, precision=resolved
        )
        for block in iter_ecg(store, batch_size=4096)
    ]
    feats = (
        np.concatenate(parts)
        if parts
        else np.zeros((0, encoder.n_features), dtype=np.float32)
    )
    seconds = time.perf_counter() - t0
    log.info(
        "%s: %d windows -> %s in %.1f s (%.0f windows/s, %s)",
        store,
        feats.shape[0],
        feats.shape,
        seconds,
        feats.shape[0] / max(seconds, 1e-9),
        resolved,
    )
    with atomic_path(out_path) as tmp, open(tmp, "wb") as f:
        np.save(f, feats)

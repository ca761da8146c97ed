"""HRV stage: time-domain heart-rate-variability indices of every window of a store."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ecgssl.data.hrv import hrv_table
from ecgssl.data.store import iter_ecg, read_metadata
from ecgssl.util.atomic import atomic_path

log = logging.getLogger(__name__)


def hrv_stage(store: Path, out_path: Path) -> None:
    """Write the HRV indices of every window, row-aligned with the store (Parquet)."""
    fs = float(read_metadata(store)["fs"])
    t0 = time.perf_counter()
    table = hrv_table(iter_ecg(store), fs=fs)
    with atomic_path(out_path) as tmp:
        table.to_parquet(tmp, index=False)
    found = table.n_beats.ge(3).mean() if len(table) else 0.0
    log.info(
        "%s: HRV indices of %d windows in %.1f s (%.0f%% with >= 3 beats, median "
        "heart rate %.1f bpm)",
        store, len(table), time.perf_counter() - t0, 100 * found,
        table.heart_rate.median(),
    )  # fmt: skip

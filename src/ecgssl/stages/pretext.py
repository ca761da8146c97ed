"""Pretext stage: pretrain the encoder on the union of window stores."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl.data.store import ecg_memmap, read_windows
from ecgssl.learning.checkpoint import remove_checkpoint
from ecgssl.learning.device import select_device
from ecgssl.learning.modelfile import save_pretext_model
from ecgssl.learning.pretrain import PretextConfig, pretrain
from ecgssl.stages.provenance import versions, write_json
from ecgssl.util.atomic import atomic_path

log = logging.getLogger(__name__)


#: Signals per forward/backward chunk of a CPU pretext step (of 7 x batch_size): the
#: same gradient as one pass. Measured on a 2-core AVX-512 CPU (torch 2.13) with the
#: long-kernel custom backward on: 32 -> ~120 signals/s, 64 -> ~115, 128 -> ~87,
#: 224 -> ~75, one pass of 896 -> ~72 (each chunk's activations then fit in cache);
#: peak RSS at 50k windows 5.2 GB in one pass, 1.6 GB at 128. GPUs take the batch
#: in one go.
PRETEXT_CPU_MICRO_BATCH = 32


def pretext_stage(
    stores: Sequence[Path],
    *,
    model_path: Path,
    sidecar_path: Path,
    history_path: Path,
    config: dict[str, Any],
    seed: int,
    device: str,
    checkpoint_path: Path | None = None,
) -> None:
    """Pretrain the encoder on the union of the stores' windows."""

    cfg = PretextConfig.from_dict(config)
    dev = select_device(device)
    subjects, inputs = [], []
    for store in stores:
        df = read_windows(store, columns=["dataset", "subject"])
        subjects.append((df.dataset + "/" + df.subject).to_numpy())
        inputs.append({"store": str(store), "n_windows": len(df)})
        log.info("pretext input %s: %d windows", store, len(df))
    # All stores streamed into one read-only memory-mapped scratch file next to the
    # model (never a copy of the signals in RAM; pretrain reads batch by batch).
    scratch_dir = Path(model_path).parent
    scratch_dir.mkdir(parents=True, exist_ok=True)
    for stale in scratch_dir.glob(".windows-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=".windows-", dir=scratch_dir) as tmp:
        x = ecg_memmap(stores, Path(tmp) / "ecg.npy")
        result = pretrain(
            x,
            np.concatenate(subjects),
            config=cfg,
            seed=seed,
            device=dev,
            checkpoint_path=checkpoint_path,
            micro_batch=PRETEXT_CPU_MICRO_BATCH if dev.type == "cpu" else None,
        )
        del x  # release the mapping before the directory is removed
    meta = {**result.meta(), "inputs": inputs, "versions": versions(dev)}
    save_pretext_model(model_path, result.encoder, result.heads, meta)
    history = pd.DataFrame(result.history)
    with atomic_path(history_path) as tmp:
        history.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    write_json(sidecar_path, meta)
    if checkpoint_path is not None:
        remove_checkpoint(checkpoint_path)

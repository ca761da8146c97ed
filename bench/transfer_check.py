"""Pretrain on the synthetic data only; score the heads on validation and on real ECG.

    .venv/bin/python bench/transfer_check.py [--stores results/windows]
        [--epochs 3] [--batch-size 16] [--lr 0.001] [--scale 1] [--bf16]
        [--out results/bench/transfer.json]

The windows come from a finished run's stores (``--stores``: ``<dataset>.parquet``
for each pretext dataset of the config) or are generated here exactly as the
workflow does (same writers, seeds and preprocessing; ``--scale`` multiplies the
number of synthetic subjects). The pretext settings are the config's, with the
given overrides; the seed is the workflow's. Prints per-head balanced accuracy
(chance 0.5) on the held-out validation subjects after every epoch, then on each
real recording that installed packages ship (:mod:`ecgssl.data.reference_ecg`),
and the wall time. ``--bf16`` estimates the speed of a bfloat16 CPU path by running
the library's autocast regions in bf16 on the CPU (a patch in this process only).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import ecgssl.learning.pretext.transformation_recognition as tr
from ecgssl.data.datasets import open_reader, write_synthetic
from ecgssl.data.preprocess import PreprocessConfig, process_subject
from ecgssl.data.store import ecg_memmap, read_windows
from ecgssl.learning.device import set_threads
from ecgssl.learning.pretext.transfer import real_ecg_scores, scores_table
from ecgssl.learning.pretrain import PretextConfig, pretrain
from ecgssl.learning.transforms import TASKS
from ecgssl.learning.tuning import pretext_micro_batch
from ecgssl.util.seeds import stable_seed

REPO = Path(__file__).resolve().parents[1]


def _synthetic_windows(
    cfg: dict[str, Any], datasets: list[str], scale: int, workdir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Write each dataset's synthetic copy and preprocess it as the workflow does."""
    pre = PreprocessConfig.from_dict(cfg["preprocess"])
    windows, subjects = [], []
    for ds in datasets:
        options = dict(cfg["datasets"][ds]["synthetic"])
        options["n_subjects"] = options["n_subjects"] * scale
        root = workdir / ds
        seed = stable_seed(cfg["seed"], "synthetic", ds)
        write_synthetic(ds, root, seed=seed, **options)
        reader = open_reader(ds, root, cfg["datasets"][ds].get("reader", {}))
        for subject, recs in groupby(reader.recordings(), key=lambda r: r.subject):
            for _, ecg, _ in process_subject(
                list(recs), config=pre, label_columns=reader.label_columns
            ):
                windows.append(ecg)
                subjects += [f"{ds}/{subject}"] * ecg.shape[0]
    return np.concatenate(windows), np.asarray(subjects)


def _store_windows(
    stores: Path, datasets: list[str], workdir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """The windows of a finished run's stores."""
    paths = [stores / f"{ds}.parquet" for ds in datasets]
    subjects = []
    for p in paths:
        df = read_windows(p, columns=["dataset", "subject"])
        subjects.append((df.dataset + "/" + df.subject).to_numpy())
    x = np.asarray(ecg_memmap(paths, workdir / "ecg.npy"))
    return x, np.concatenate(subjects)


def _bf16_autocast(device: torch.device | str) -> torch.autocast:
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "config.yaml")
    ap.add_argument("--stores", type=Path, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        set_threads(args.threads)

    cfg = yaml.safe_load(args.config.read_text())
    pcfg = dict(cfg["pretext"])
    for key, value in (
        ("epochs", args.epochs),
        ("batch_size", args.batch_size),
        ("lr", args.lr),
    ):
        if value is not None:
            pcfg[key] = value
    config = PretextConfig.from_dict(pcfg)
    datasets = list(pcfg["datasets"])
    seed = stable_seed(cfg["seed"], "pretext", pcfg["name"])
    if args.bf16:
        tr.autocast = _bf16_autocast  # this process only

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if args.stores is not None:
            x, subjects = _store_windows(args.stores, datasets, Path(tmp))
        else:
            x, subjects = _synthetic_windows(cfg, datasets, args.scale, Path(tmp))
        t_data = time.perf_counter() - t0
        print(f"{x.shape[0]} windows of {len(set(subjects))} subjects ({t_data:.1f} s)")
        device = torch.device(args.device)
        t0 = time.perf_counter()
        result = pretrain(
            x,
            subjects,
            config=config,
            seed=seed,
            device=device,
            log=print,
            micro_batch=pretext_micro_batch("fp32") if device.type == "cpu" else None,
        )
        t_train = time.perf_counter() - t0
    model = tr.PretextNet(result.encoder, result.heads)
    t0 = time.perf_counter()
    real = real_ecg_scores(model, params=config.transforms, device="cpu")
    t_real = time.perf_counter() - t0

    heads = TASKS[1:]
    print(
        f"\nwall time: data {t_data:.0f} s, training {t_train:.0f} s, "
        f"real-ECG check {t_real:.0f} s"
    )
    print(f"{'':22s}" + "".join(f"{h:>10s}" for h in heads) + f"{'mean':>8s}")
    val = result.val_scores
    rows = []
    if val is not None:
        bacc = {h: val.balanced_accuracy[h] for h in heads}
        mean = float(np.mean(list(bacc.values())))
        rows.append({"recording": "validation", **bacc, "mean": mean})
    rows += scores_table(real)
    for row in rows:
        cells = "".join(f"{row[h]:10.2f}" for h in heads)
        print(f"{row['recording']:22s}{cells}{row['mean']:8.2f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "settings": {**config.to_dict(), "scale": args.scale, "bf16": args.bf16},
            "n_windows": int(x.shape[0]),
            "n_train_windows": result.n_train_windows,
            "seconds": {"data": t_data, "training": t_train, "real_check": t_real},
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
            "history": result.history,
            "balanced_accuracy": rows,
        }
        args.out.write_text(json.dumps(report, indent=1, default=str))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark speed and memory of the workflow's hot paths; write bench.json.

    .venv/bin/python bench/bench.py [--out results/bench/bench.json] [--quick]

Every figure is the median of several runs (all runs are kept in the JSON, so the
noise is visible). Peak memory figures come from child processes (``ru_maxrss``).
Nothing is asserted; the targets are printed next to the figures. The pretext
methods x backbones figures come from bench/bench_methods.py (entry ``methods``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_methods import methods as methods_bench

from ecgssl.data.store import WindowStoreWriter, ecg_memmap, read_windows
from ecgssl.learning.backbones.paper_cnn import PaperCNN
from ecgssl.learning.device import cpu_info, set_threads
from ecgssl.learning.modelfile import save_encoder
from ecgssl.learning.pretext.transformation_recognition import (
    TASK_WEIGHTS,
    PretextHeads,
    PretextNet,
    forward_backward,
)
from ecgssl.learning.pretrain import load_batch
from ecgssl.learning.transforms import TransformParams, make_pretext_batch
from ecgssl.learning.tuning import pretext_micro_batch

REPO = Path(__file__).resolve().parents[1]
LENGTH = 2560  # 10 s at 256 Hz
BATCH = 128  # windows per pretext step (x 7 signals)
TARGETS = {
    "pretext_flop_efficiency": ">= 0.8",
    "pretext_bf16_speedup": ">= 2.5 (bf16 engine) / auto = fp32 (none)",
    "pretext_bf16_flop_efficiency": ">= 0.6 (bf16 engine)",
    "features_bf16_speedup": ">= 2 (bf16 engine)",
    "finetune_job_overhead_s": "<= 0.5",
    "make_run_seconds": "<= 900",
    "transforms_windows_per_s": ">= 20000",
    "preprocess_realtime_factor.reader_excluded": ">= 10000",
    "features_gemm_fraction": ">= 0.9",
    "pretext_peak_rss_mb": "< 2000",
    "store_build_peak_rss_mb": "< 1000",
    "dag_seconds": "< 10",
}


def _times(fn: Callable[[], Any], runs: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def gemm_gflops(runs: int, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """2048x2048 matmul rate in GFLOP/s (the reference limit), fp32 or bf16."""
    n = 2048
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    rates = [2 * n**3 / t / 1e9 for t in _times(lambda: a @ b, runs)]
    return {"median": statistics.median(rates), "runs": rates}


def write_store(path: Path, n_windows: int, *, n_subjects: int = 10) -> Path:
    """A synthetic window store of ``n_windows`` float32 windows (no labels)."""
    rng = np.random.default_rng(0)
    chunk = 2000
    with WindowStoreWriter(
        path, label_columns=(), window_size=LENGTH, metadata={"bench": True}
    ) as writer:
        for start in range(0, n_windows, chunk):
            n = min(chunk, n_windows - start)
            idx = np.arange(start, start + n)
            writer.write(
                {
                    "dataset": ["bench"] * n,
                    "subject": [f"s{i % n_subjects:02d}" for i in idx],
                    "trial": ["t0"] * n,
                    "window": idx.astype(np.int32),
                    "start_s": idx * 10.0,
                },
                rng.standard_normal((n, LENGTH), dtype=np.float32),
            )
    return path


def train_steps(
    windows: Any,
    n_steps: int,
    *,
    seed: int = 0,
    micro_batch: int | None = None,
    precision: str = "fp32",
) -> list[float]:
    """Seconds of each full pretext step, as ``pretrain`` runs it.

    Random sorted batch of rows read from ``windows`` (a memmap), the six
    transformations on the fly, forward, loss with L2, backward, Adam step, in
    ``precision``. ``micro_batch`` None: the size the pipeline's cached probe picks
    for that precision (:func:`ecgssl.learning.tuning.pretext_micro_batch`).
    """
    if micro_batch is None:
        micro_batch = pretext_micro_batch(precision)
    device = torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    model = PretextNet(PaperCNN(generator=gen), PretextHeads(generator=gen))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = torch.tensor(TASK_WEIGHTS)
    params = TransformParams()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        index = np.sort(rng.choice(windows.shape[0], BATCH, replace=False))
        x = load_batch(windows, index, device)
        signals, targets = make_pretext_batch(x, params, gen)
        optimizer.zero_grad(set_to_none=True)
        loss = forward_backward(
            model, signals, targets, weights, 1e-4, gen, micro_batch, device, precision
        )
        optimizer.step()
        float(loss.detach())
        out.append(time.perf_counter() - t0)
    return out


def pretext(
    tmp: Path, steps: int, gemm: float, precision: str = "fp32"
) -> dict[str, Any]:
    """Signals per second of full training steps and FLOP efficiency.

    ``gemm``: the GEMM rate of the same precision (GFLOP/s). Keys of a bf16 run end
    in ``_bf16``.
    """
    store = tmp / "pretext.parquet"
    if not store.exists():
        write_store(store, 4 * BATCH)
    windows = ecg_memmap([store], tmp / f"pretext-{precision}.npy")
    micro = pretext_micro_batch(precision)
    # the first step warms up
    times = train_steps(windows, steps + 1, micro_batch=micro, precision=precision)[1:]
    signals = [7 * BATCH / t for t in times]
    flops = 3 * PaperCNN().flops_per_signal(LENGTH)
    rate = statistics.median(signals)
    end = "" if precision == "fp32" else f"_{precision}"
    return {
        f"pretext_signals_per_s{end}": {"median": rate, "runs": signals},
        f"pretext{end}_flop_efficiency": rate * flops / (gemm * 1e9),
        f"pretext{end}_micro_batch": micro,
        "fwd_bwd_flops_per_signal": flops,
    }


def transforms(runs: int) -> dict[str, Any]:
    """Windows per second through all six transformations (batch of 128)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, LENGTH, generator=gen)
    params = TransformParams()
    rates = [
        BATCH / t for t in _times(lambda: make_pretext_batch(x, params, gen), runs, 3)
    ]
    return {"median": statistics.median(rates), "runs": rates}


class _InMemory:
    """A reader replaying recordings already read (excludes file parsing)."""

    def __init__(self, reader: Any) -> None:
        self.name, self.label_columns = reader.name, reader.label_columns
        self._files, self._recs = reader.files(), list(reader.recordings())

    def files(self) -> list[Path]:
        return self._files

    def recordings(self) -> Any:
        return iter(self._recs)


def preprocess(tmp: Path, runs: int) -> dict[str, Any]:
    """Seconds of raw 700 Hz WESAD-like ECG turned into windows per wall second."""
    from ecgssl.data.datasets import open_reader, write_synthetic
    from ecgssl.data.preprocess import PreprocessConfig, build_window_store

    root = tmp / "wesad"
    write_synthetic("wesad", root, seed=1, n_subjects=1, phase_s=300.0)
    cfg = PreprocessConfig()
    result: dict[str, Any] = {}
    for key, make in (
        ("reader_included", lambda: open_reader("wesad", root)),
        ("reader_excluded", lambda: _InMemory(open_reader("wesad", root))),
    ):
        factors = []
        for i in range(runs):
            reader = make()
            t0 = time.perf_counter()
            summary = build_window_store(
                reader,
                root=root,
                store_path=tmp / f"w{i}.parquet",
                qc_path=tmp / f"qc{i}.tsv",
                config=cfg,
                progress=lambda _: None,
            )
            seconds = time.perf_counter() - t0
            factors.append(summary["hours_of_ecg"] * 3600 / seconds)
        result[key] = {"median": statistics.median(factors), "runs": factors}
    return result


def features(
    tmp: Path, runs: int, gemm: float, precision: str = "fp32"
) -> dict[str, Any]:
    """Windows per second of ``ecgssl features`` (features_stage) on a store.

    ``gemm``: the GEMM rate of the same precision. Keys of a bf16 run end in
    ``_bf16``.
    """
    from ecgssl.stages.features import features_stage

    store = tmp / "features.parquet"
    model = tmp / "encoder.pt"
    if not store.exists():
        write_store(store, 1024)
        save_encoder(model, PaperCNN(generator=torch.Generator().manual_seed(0)))
    rates = []
    for _ in range(runs + 1):  # the first run warms up
        t0 = time.perf_counter()
        features_stage(model, store, tmp / "f.npy", device="cpu", precision=precision)
        rates.append(1024 / (time.perf_counter() - t0))
    rates = rates[1:]
    rate = statistics.median(rates)
    limit = gemm * 1e9 / PaperCNN().flops_per_signal(LENGTH)
    end = "" if precision == "fp32" else f"_{precision}"
    return {
        f"features_signals_per_s{end}": {"median": rate, "runs": rates},
        f"features_gemm_limited_per_s{end}": limit,
        f"features_gemm_fraction{end}": rate / limit,
    }


def _peak_rss() -> dict[str, float]:
    """Peak resident memory of this process in MB.

    ``ru_maxrss`` survives fork and exec on Linux (a child reports at least the
    parent's peak), so the figure used is ``VmHWM`` of /proc/self/status, the
    high-water mark of this process's own address space; ``ru_maxrss`` is kept too.
    """
    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    out["peak_rss_mb"] = out["ru_maxrss_mb"]
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak_rss_mb"] = int(line.split()[1]) / 1024  # kB -> MB
    return out


def _child(args: list[str]) -> float:
    """Run ``bench.py --child ...`` and return its peak RSS in MB."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def child_pretext(store: Path, steps: int) -> None:
    """pretext_stage's data path on a big store, then a few training steps."""
    df = read_windows(store, columns=["dataset", "subject"])
    subjects = (df.dataset + "/" + df.subject).to_numpy()
    with tempfile.TemporaryDirectory(dir=store.parent) as tmp:
        windows = ecg_memmap([store], Path(tmp) / "ecg.npy")
        if len(subjects) != windows.shape[0]:
            raise RuntimeError("subjects and windows differ in length")
        train_steps(windows, steps)
        del windows


def child_store_build(root: Path) -> None:
    """Build the window store of a WESAD-like recording, as window_dataset does."""
    from ecgssl.data.datasets import open_reader
    from ecgssl.data.preprocess import PreprocessConfig, build_window_store

    build_window_store(
        open_reader("wesad", root),
        root=root,
        store_path=root / "w.parquet",
        qc_path=root / "qc.tsv",
        config=PreprocessConfig(),
        progress=lambda _: None,
    )


def dag_seconds(tmp: Path, runs: int) -> dict[str, Any]:
    """``snakemake -n`` wall time for configs/paper.yaml on small synthetic raw data.

    The config's raw folders (``resources/raw/...``, relative to the working
    directory) are filled with small synthetic files in each dataset's native format
    (the DAG depends on the file names, not their size).
    """
    import yaml

    from ecgssl.data.datasets import write_synthetic

    config = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    work = tmp / "dag"
    small = {
        "dreamer": {"n_subjects": 2, "n_trials": 2},
        "wesad": {"n_subjects": 2, "phase_s": 30.0},
        "amigos": {"n_subjects": 2, "n_trials": 2},
        "swell": {"n_subjects": 2, "block_s": 30.0},
    }
    for name, spec in config["datasets"].items():
        write_synthetic(name, work / spec["path"], seed=1, **small.get(name, {}))
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(REPO / "configs" / "paper.yaml"),
        "--cores",
        "2",
        "-n",
        "--quiet",
    ]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return {"median": None, "error": proc.stderr[-2000:]}
    return {"median": statistics.median(times), "runs": times}


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("median")
    if value is None:
        return "n/a"
    if isinstance(value, (str, bool)):
        return str(value)[:40]
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/bench/bench.json"))
    parser.add_argument("--quick", action="store_true", help="fewer runs and steps")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_threads(args.threads)
    if args.child:
        kind, *rest = args.child
        if kind == "pretext":
            child_pretext(Path(rest[0]), int(rest[1]))
        else:
            child_store_build(Path(rest[0]))
        print(json.dumps(_peak_rss()))
        return

    runs = 3 if args.quick else 5
    steps = 2 if args.quick else 5
    cpu = cpu_info()
    res: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu["model"],
            "cpu_flags": cpu["flags"],
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "load_average_start": os.getloadavg(),
        },
        "cpu_bf16_native": cpu["bf16_native"],
        "noop_seconds": None,  # not measured (needs a finished full run)
    }
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        # memory first, while this process is still small (see _peak_rss)
        big = write_store(tmp / "big.parquet", 50_000)
        res["pretext_peak_rss_mb"] = _child(["pretext", str(big), "3"])
        big.unlink()
        from ecgssl.data.datasets import write_synthetic

        rec = tmp / "wesad2h"  # 2 h at 700 Hz: 4.65 phases (see synthetic/wesad.py)
        write_synthetic("wesad", rec, seed=2, n_subjects=1, phase_s=7200 / 4.65)
        res["store_build_peak_rss_mb"] = _child(["store", str(rec)])
        gemm = gemm_gflops(runs)
        res["gemm_gflops"] = gemm
        print(f"gemm {gemm['median']:.0f} GFLOP/s", flush=True)
        res.update(pretext(tmp, steps, gemm["median"]))
        if cpu["bf16_native"]:  # bf16 without the engine is emulated: not measured
            gemm16 = gemm_gflops(runs, torch.bfloat16)
            res["gemm_gflops_bf16"] = gemm16
            print(f"gemm bf16 {gemm16['median']:.0f} GFLOP/s", flush=True)
            res.update(pretext(tmp, steps, gemm16["median"], "bf16"))
            res["pretext_bf16_speedup"] = (
                res["pretext_signals_per_s_bf16"]["median"]
                / res["pretext_signals_per_s"]["median"]
            )
        res["transforms_windows_per_s"] = transforms(5 * runs)
        res["preprocess_realtime_factor"] = preprocess(tmp, max(2, runs // 2))
        res.update(features(tmp, max(2, runs // 2), gemm["median"]))
        if cpu["bf16_native"]:
            res.update(features(tmp, max(2, runs // 2), gemm16["median"], "bf16"))
            res["features_bf16_speedup"] = (
                res["features_signals_per_s_bf16"]["median"]
                / res["features_signals_per_s"]["median"]
            )
        # every pretext method x backbone (bench/bench_methods.py)
        res["methods"] = methods_bench(
            steps=2 if args.quick else 3, batch=16, gemm_gflops=gemm["median"],
            device=torch.device("cpu"),
        )  # fmt: skip
        res["dag_seconds"] = dag_seconds(tmp, runs=3)
    res["machine"]["load_average_end"] = os.getloadavg()
    res["targets"] = TARGETS

    args.out.parent.mkdir(parents=True, exist_ok=True)
    run = args.out.with_name("make_run.json")  # bench/make_run.py's figures
    if run.exists():
        made = json.loads(run.read_text())
        for key in ("make_run_seconds", "finetune_job_overhead_s", "stages"):
            res[key] = made.get(key)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    rows = [
        ("cpu", cpu["model"], "", ""),
        ("cpu_bf16_native", cpu["bf16_native"], "", ""),
        ("gemm_gflops", res["gemm_gflops"], "GFLOP/s", ""),
        ("gemm_gflops_bf16", res.get("gemm_gflops_bf16"), "GFLOP/s", ""),
        ("pretext_signals_per_s", res["pretext_signals_per_s"], "signals/s", ""),
        ("pretext_flop_efficiency", res["pretext_flop_efficiency"], "", ""),
        (
            "pretext_signals_per_s_bf16",
            res.get("pretext_signals_per_s_bf16"),
            "signals/s",
            "",
        ),  # fmt: skip
        (
            "pretext_bf16_flop_efficiency",
            res.get("pretext_bf16_flop_efficiency"),
            "",
            "",
        ),  # fmt: skip
        ("pretext_bf16_speedup", res.get("pretext_bf16_speedup"), "x", ""),
        ("transforms_windows_per_s", res["transforms_windows_per_s"], "windows/s", ""),
        (
            "preprocess_realtime_factor.reader_excluded",
            res["preprocess_realtime_factor"]["reader_excluded"],
            "x real time",
            "",
        ),
        (
            "preprocess_realtime_factor.reader_included",
            res["preprocess_realtime_factor"]["reader_included"],
            "x real time",
            "",
        ),
        ("features_signals_per_s", res["features_signals_per_s"], "signals/s", ""),
        ("features_gemm_fraction", res["features_gemm_fraction"], "", ""),
        (
            "features_signals_per_s_bf16",
            res.get("features_signals_per_s_bf16"),
            "signals/s",
            "",
        ),  # fmt: skip
        ("features_bf16_speedup", res.get("features_bf16_speedup"), "x", ""),
        ("pretext_peak_rss_mb", res["pretext_peak_rss_mb"], "MB", ""),
        ("store_build_peak_rss_mb", res["store_build_peak_rss_mb"], "MB", ""),
        ("dag_seconds", res["dag_seconds"], "s", ""),
        ("noop_seconds", None, "s", "not measured"),
        (
            "make_run_seconds",
            res.get("make_run_seconds"),
            "s",
            "make bench-run",
        ),  # fmt: skip
        (
            "finetune_job_overhead_s",
            res.get("finetune_job_overhead_s"),
            "s",
            "make bench-run",
        ),  # fmt: skip
    ]
    print(f"\n{'metric':44} {'value':>12} {'unit':12} target")
    for name, value, unit, note in rows:
        if name == "cpu":
            print(f"{name:44} {value}")
            continue
        print(f"{name:44} {_fmt(value):>12} {unit:12} {TARGETS.get(name, note)}")
    for pair, entry in res["methods"]["pairs"].items():
        for precision in res["methods"]["precisions"]:
            fig = entry[precision]
            print(
                f"{pair + ' ' + precision:44} {_fmt(fig['signals_per_s']):>12} "
                f"{'signals/s':12} efficiency {fig['flop_efficiency']:.3f}"
            )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

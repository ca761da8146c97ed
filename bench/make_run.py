"""Time the default workflow from a clean ``results/`` and break it down by stage.

    .venv/bin/python bench/make_run.py [--cores 2] [--configfile config.yaml]
                                       [--out results/bench/make_run.json] [--keep DIR]

The project's files (tracked and untracked, not ignored) are copied to a scratch
folder, ``snakemake --cores N`` runs there from nothing, and the figures come from
Snakemake's own benchmark files (``benchmarks/<rule>/...tsv``, one per job):

- ``make_run_seconds``: wall time of the whole run (the environment's install is
  not included; ``make run`` on a fresh machine adds it);
- ``stages``: per rule, its jobs, the sum, median and largest of their wall times;
- ``finetune_job_overhead_s``: median over fine-tune jobs of wall time minus the
  training time the job records (``seconds`` of its ``metrics.json``): what start-up,
  imports and reading cost per job.

``make bench`` folds these keys into ``bench.json`` when this file exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def project_files(repo: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files of the repository."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (repo / f).is_file()]


def copy_project(repo: Path, dest: Path) -> None:
    for name in project_files(repo):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)


def stage_breakdown(work: Path) -> dict[str, dict[str, float]]:
    """Per rule: jobs, sum, median and max of ``s`` in its benchmark files."""
    out = {}
    for folder in sorted(p for p in (work / "benchmarks").iterdir() if p.is_dir()):
        seconds = [
            float(pd.read_csv(f, sep="\t")["s"].iloc[0])
            for f in sorted(folder.rglob("*.tsv"))
        ]
        if seconds:
            out[folder.name] = {
                "jobs": len(seconds),
                "sum_s": sum(seconds),
                "median_s": statistics.median(seconds),
                "max_s": max(seconds),
            }
    return out


def finetune_overhead(work: Path) -> dict[str, Any]:
    """Median of (job wall time - recorded training time) over fine-tune jobs."""
    base = work / "benchmarks" / "finetune_classifier"
    overheads = []
    for bench in sorted(base.rglob("*.tsv")):
        rel = bench.relative_to(base).with_suffix("")
        metrics = work / "results" / "finetune" / rel / "metrics.json"
        wall = float(pd.read_csv(bench, sep="\t")["s"].iloc[0])
        overheads.append(wall - float(json.loads(metrics.read_text())["seconds"]))
    if not overheads:
        return {"median": None, "jobs": 0}
    return {
        "median": statistics.median(overheads),
        "jobs": len(overheads),
        "max": max(overheads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--configfile", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("results/bench/make_run.json"))
    parser.add_argument("--keep", type=Path, default=None, help="run here, keep it")
    args = parser.parse_args()

    scratch = None
    if args.keep is None:
        scratch = tempfile.TemporaryDirectory(prefix="ecgssl-run-")
        work = Path(scratch.name)
    else:
        work = args.keep.resolve()
        if work.exists() and any(work.iterdir()):
            sys.exit(f"{work} is not empty")
        work.mkdir(parents=True, exist_ok=True)
    try:
        copy_project(REPO, work)
        cmd = [str(Path(sys.executable).parent / "snakemake"), "--cores",
               str(args.cores)]  # fmt: skip
        if args.configfile is not None:
            cmd += ["--configfile", str(args.configfile.resolve())]
        print(" ".join(cmd), f"(in {work})", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=work, check=False)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"snakemake failed ({proc.returncode}) after {seconds:.0f} s")
        stages = stage_breakdown(work)
        overhead = finetune_overhead(work)
    finally:
        if scratch is not None:
            scratch.cleanup()
    result = {
        "make_run_seconds": seconds,
        "cores": args.cores,
        "configfile": str(args.configfile or "config.yaml"),
        "finetune_job_overhead_s": overhead,
        "stages": stages,
        "load_average_end": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmake_run_seconds {seconds:.0f}")
    print(f"finetune_job_overhead_s {overhead['median']}")
    print(f"{'rule':24} {'jobs':>5} {'sum s':>9} {'median s':>9} {'max s':>9}")
    for rule, row in sorted(stages.items(), key=lambda kv: -kv[1]["sum_s"]):
        print(
            f"{rule:24} {row['jobs']:5d} {row['sum_s']:9.1f} "
            f"{row['median_s']:9.2f} {row['max_s']:9.1f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

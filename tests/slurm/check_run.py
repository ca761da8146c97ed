"""Checks of the SLURM cluster test: jobs ran through sbatch as asked, results match."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+)\b", re.M)
RUN_ID = re.compile(r"^SLURM run ID: (\S+)", re.M)
BLOCK = re.compile(r"^(localrule|rule) (\w+):\n((?:    .*\n)+)", re.M)
TOTAL = re.compile(r"^total\s+(\d+)\s*$", re.M)
FAILED_STATES = {"BOOT_FAIL", "CANCELLED", "DEADLINE", "FAILED", "NODE_FAIL"}
# metrics.json keys and table columns that measure time, not results
TIMING = re.compile(r"^(seconds|\w+_seconds|elapsed\w*|duration\w*|wall_s|timestamp)$")


@dataclass
class Job:
    """One job as Snakemake's log announces it."""

    rule: str
    local: bool
    jobid: int
    threads: int = 1
    resources: dict[str, str] = field(default_factory=dict)
    slurm_id: int | None = None


def parse_log(text: str) -> tuple[str | None, int, dict[int, Job]]:
    """Run ID, total job count and the jobs of a Snakemake log.

    Parameters
    ----------
    text : str
        Snakemake's console output (stderr) of one run.

    Returns
    -------
    run_id : str or None
        The SLURM plugin's run UUID (the sbatch job name); None for local runs.
    total : int
        The "total" row of Snakemake's job stats table.
    jobs : dict of int to Job
        Snakemake job id -> job, with the SLURM job id where it was submitted.
    """
    run = RUN_ID.search(text)
    totals = TOTAL.findall(text)
    if not totals:
        raise ValueError("log: no job stats table ('total' row) found")
    jobs: dict[int, Job] = {}
    for kind, rule, body in BLOCK.findall(text):
        attrs = dict(
            line.strip().split(": ", 1) for line in body.splitlines() if ": " in line
        )
        if "jobid" not in attrs:
            continue
        res = {}
        for item in attrs.get("resources", "").split(", "):
            key, _, value = item.partition("=")
            if key:
                res[key] = value
        job = Job(
            rule=rule,
            local=kind == "localrule",
            jobid=int(attrs["jobid"]),
            threads=int(attrs.get("threads", 1)),
            resources=res,
        )
        jobs[job.jobid] = job
    for jobid, slurm_id in SUBMITTED.findall(text):
        if int(jobid) not in jobs:
            raise ValueError(f"log: job {jobid} submitted but never announced")
        jobs[int(jobid)].slurm_id = int(slurm_id)
    return (run.group(1) if run else None), int(totals[0]), jobs


def slurm_minutes(limit: str) -> int:
    """Minutes of a SLURM time limit such as ``1-00:00:00``, ``02:00:00`` or ``30:00``.

    Parameters
    ----------
    limit : str
        As sacct (``Timelimit``) or squeue (``%l``) prints it.

    Returns
    -------
    int
        The limit in whole minutes.
    """
    days, _, hms = limit.rpartition("-")
    parts = [int(p) for p in hms.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return (int(days or 0) * 24 + h) * 60 + m + (1 if s else 0)


def slurm_mb(mem: str) -> int:
    """Megabytes of a SLURM memory request such as ``4000M``, ``16G`` or ``4000Mn``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)[nc]?", mem)
    if match is None:
        raise ValueError(f"unexpected SLURM memory value {mem!r}")
    value, unit = float(match.group(1)), match.group(2) or "M"
    return round(value * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[unit])


def query_jobs(run_id: str, status: str) -> dict[int, dict[str, str]]:
    """State, CPUs, memory and time limit of the run's jobs, from sacct or squeue."""
    if status == "sacct":
        cmd = [
            "sacct", "-X", "-P", "-n", "--starttime", "now-1days", "--name", run_id,
            "-o", "JobIDRaw,State,AllocCPUS,ReqMem,Timelimit",
        ]  # fmt: skip
    else:
        cmd = [
            "squeue", "-h", "--states=all", "--name", run_id,
            "-o", "%i|%T|%C|%m|%l",
        ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        jobid, state, cpus, mem, limit = line.split("|")[:5]
        rows[int(jobid)] = {
            "state": state.split()[0],
            "cpus": cpus,
            "mem": mem,
            "limit": limit,
        }
    return rows


def check_jobs(log_path: Path, status: str) -> list[str]:
    """Every sbatch job COMPLETED and got the rule's CPUs, memory and runtime.

    Parameters
    ----------
    log_path : Path
        Snakemake's console output of the SLURM run.
    status : {"sacct", "squeue"}
        Where to read the jobs' records.

    Returns
    -------
    list of str
        One line per problem; empty when all is well. A table of the jobs is printed.
    """
    run_id, total, jobs = parse_log(log_path.read_text())
    if run_id is None:
        return [f"{log_path}: no 'SLURM run ID' line: not a SLURM run"]
    problems = []
    submitted = [j for j in jobs.values() if j.slurm_id is not None]
    remote = [j for j in jobs.values() if not j.local]
    local = [j for j in jobs.values() if j.local]
    if not submitted:
        problems.append("no job was submitted through sbatch")
    if len(jobs) != total:
        problems.append(f"log announces {len(jobs)} jobs, job stats say {total}")
    if {j.jobid for j in submitted} != {j.jobid for j in remote}:
        problems.append(
            f"{len(submitted)} jobs submitted, but {len(remote)} non-local jobs: "
            f"{sorted(j.rule for j in remote if j.slurm_id is None)} never submitted"
        )
    rows: dict[int, dict[str, str]] = {}
    for _ in range(20):  # accounting records may lag behind the end of a job
        rows = query_jobs(run_id, status)
        if all(j.slurm_id in rows for j in submitted):
            break
        time.sleep(1)
    extra = set(rows) - {j.slurm_id for j in submitted}
    if extra:
        problems.append(f"{status} lists jobs the log never submitted: {sorted(extra)}")
    print(f"{'slurm id':>8}  {'rule':<20} {'state':<10} cpus  mem(MB)  limit(min)")
    multi_cpu = False
    for job in sorted(submitted, key=lambda j: j.slurm_id or 0):
        row = rows.get(job.slurm_id or -1)
        if row is None:
            problems.append(f"job {job.slurm_id} ({job.rule}) missing from {status}")
            continue
        want_cpus = int(job.resources.get("cpus_per_task", job.threads))
        want_mb = int(job.resources["mem_mb"])
        want_min = int(job.resources["runtime"])
        got = (int(row["cpus"]), slurm_mb(row["mem"]), slurm_minutes(row["limit"]))
        print(
            f"{job.slurm_id:>8}  {job.rule:<20} {row['state']:<10} {got[0]:>4}"
            f"  {got[1]:>7}  {got[2]:>10}"
        )
        if row["state"] != "COMPLETED":
            problems.append(f"job {job.slurm_id} ({job.rule}) is {row['state']}")
        if got != (want_cpus, want_mb, want_min):
            problems.append(
                f"job {job.slurm_id} ({job.rule}): SLURM has cpus, mem_mb, runtime "
                f"{got}, the rule asks for {(want_cpus, want_mb, want_min)}"
            )
        multi_cpu |= want_cpus > 1
    if submitted and not multi_cpu:
        problems.append("no submitted job asked for more than one CPU")
    print(
        f"{len(submitted)} jobs through sbatch ({status}), "
        f"{len(local)} local: {sorted(j.rule for j in local)}"
    )
    return problems


def _drop_timing(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_timing(v) for k, v in obj.items() if not TIMING.match(k)}
    if isinstance(obj, list):
        return [_drop_timing(v) for v in obj]
    return obj


def compare_results(a: Path, b: Path) -> list[str]:
    """Compare the results of two runs of the same config.

    Window stores, fold tables and the summary table must be byte-equal; frozen
    features and predictions equal; metrics and the per-fold table equal apart from
    timing fields.

    Parameters
    ----------
    a, b : Path
        The two working directories.

    Returns
    -------
    list of str
        One line per difference; empty when the runs agree.
    """
    problems = []
    n = 0

    def files(pattern: str) -> list[Path]:
        found = sorted(p.relative_to(a) for p in a.glob(pattern))
        if not found:
            problems.append(f"{a}: no {pattern}")
        theirs = sorted(p.relative_to(b) for p in b.glob(pattern))
        if found != theirs:
            problems.append(f"{pattern}: different files {found} vs {theirs}")
        return [p for p in found if (b / p).exists()]

    for pattern in (
        "results/windows/*.parquet",
        "results/folds/**/*.tsv",
        "results/tables/summary.tsv",
    ):
        for rel in files(pattern):
            n += 1
            if (a / rel).read_bytes() != (b / rel).read_bytes():
                problems.append(f"{rel}: bytes differ")
    for rel in files("results/features/**/*.npy"):
        n += 1
        fa, fb = np.load(a / rel), np.load(b / rel)
        if fa.shape != fb.shape or not np.array_equal(fa, fb):
            diff = np.abs(fa - fb).max() if fa.shape == fb.shape else "shape"
            problems.append(f"{rel}: features differ (max |diff| {diff})")
    for rel in files("results/finetune/**/predictions.parquet"):
        n += 1
        if not pd.read_parquet(a / rel).equals(pd.read_parquet(b / rel)):
            problems.append(f"{rel}: predictions differ")
    for rel in files("results/finetune/**/metrics.json"):
        n += 1
        ma, mb = (_drop_timing(json.loads((d / rel).read_text())) for d in (a, b))
        if ma != mb:
            keys = sorted(k for k in ma.keys() | mb.keys() if ma.get(k) != mb.get(k))
            problems.append(f"{rel}: metrics differ in {keys}")
    for rel in files("results/tables/folds.tsv"):
        n += 1
        ta, tb = (pd.read_csv(d / rel, sep="\t") for d in (a, b))
        ta, tb = (t.drop(columns=[c for c in t if TIMING.match(c)]) for t in (ta, tb))
        if not ta.equals(tb):
            problems.append(f"{rel}: per-fold results differ")
    print(f"compared {n} result files of {a} and {b}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: ``jobs LOG [--status sacct|squeue]`` or ``compare DIR_A DIR_B``."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    jobs = sub.add_parser("jobs", help="check the sbatch jobs of a SLURM run's log")
    jobs.add_argument("log", type=Path)
    jobs.add_argument("--status", choices=["sacct", "squeue"], default="sacct")
    compare = sub.add_parser("compare", help="compare the results of two runs")
    compare.add_argument("a", type=Path)
    compare.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.command == "jobs":
        problems = check_jobs(args.log, args.status)
    else:
        problems = compare_results(args.a, args.b)
    for line in problems:
        print(f"FAIL: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""An interrupted pretext job, killed through Snakemake, resumes when rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from _snakemake import REPO, snakemake_cmd

# one synthetic dataset, 3 pretext epochs
CONFIG = yaml.safe_load((REPO / ".test" / "config-resume.yaml").read_text())
TARGET = "results/pretext/default/all/encoder.pt"
CHECKPOINT = "results/pretext/default/all/checkpoint.pt"


def _cmd(workdir: Path, *extra: str, target: str = TARGET) -> list[str]:
    return snakemake_cmd(workdir, "--cores", "2", *extra, target)


def _run(
    workdir: Path, *extra: str, target: str = TARGET
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        _cmd(workdir, *extra, target=target),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _encoder_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["encoder"]


@pytest.mark.slow
def test_killed_pretext_job_resumes_from_its_checkpoint(tmp_path):
    killed = tmp_path / "killed"
    clean = tmp_path / "clean"
    for d in (killed, clean):
        d.mkdir()
        (d / "config.yaml").write_text(yaml.safe_dump(CONFIG))

    # Build the window store first, so that the kill lands in pretext training.
    _run(killed, target="results/windows/wesad.parquet")
    proc = subprocess.Popen(
        _cmd(killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while not (killed / CHECKPOINT).exists():
            assert proc.poll() is None, "the pretext job ended before a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and the job, at once
        proc.wait()
    assert not (killed / TARGET).exists()

    _run(killed, "--unlock")  # the kill left Snakemake's lock behind
    rerun = _run(killed, "--rerun-incomplete")
    log = (killed / "logs/pretrain_encoder/default/all.log").read_text()
    assert "resuming from" in log, log[-2000:]
    assert "train loss" in log
    assert f"pretext epoch 1/{CONFIG['pretext']['epochs']}: train loss" not in log
    assert not (killed / CHECKPOINT).exists()  # removed once the outputs exist
    assert "pretrain_encoder" in rerun.stderr

    _run(clean)
    store = "results/windows/wesad.parquet"
    assert (killed / store).read_bytes() == (clean / store).read_bytes()
    a, b = _encoder_state(killed / TARGET), _encoder_state(clean / TARGET)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key

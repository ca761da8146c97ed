"""The job server: same results as a fresh process, errors and kills propagate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from ecgssl.data.store import WindowStoreWriter
from ecgssl.util.jobserver import server_enabled

pytestmark = pytest.mark.skipif(not server_enabled(), reason="no fork/AF_UNIX here")

CLIENT = """
import sys
from ecgssl.util.jobserver import run_job
run_job(sys.argv[1], {kwargs}, log="job.log", paths={paths})
"""


@pytest.fixture
def env():
    """A private temporary folder for the servers (short: socket paths are short)."""
    folder = tempfile.mkdtemp(prefix="js", dir="/tmp")
    yield {**os.environ, "TMPDIR": folder, "ECGSSL_JOB_SERVER": "1"}
    for sock in Path(folder).rglob("*.sock"):  # stop the idle servers early
        subprocess.run(["pkill", "-f", str(sock)], check=False)
    shutil.rmtree(folder, ignore_errors=True)


def _client(workdir, env, target, kwargs, paths=(), **popen):
    script = workdir / "client.py"
    script.write_text(CLIENT.format(kwargs=repr(kwargs), paths=repr(list(paths))))
    return subprocess.Popen(
        [sys.executable, str(script), target],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _wait_for_server(env, timeout=60.0):
    folder = Path(env["TMPDIR"]) / f"ecgssl-jobs-{os.getuid()}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(folder.glob("*.sock")):
            return
        time.sleep(0.2)
    raise AssertionError(f"no server came up: {list(folder.glob('*'))}")


def _store(path):
    with WindowStoreWriter(path, label_columns=(), window_size=64, metadata={}) as w:
        w.write(
            {
                "dataset": ["d"] * 12,
                "subject": [f"s{i % 4}" for i in range(12)],
                "trial": ["t"] * 12,
                "window": list(range(12)),
                "start_s": [0.0] * 12,
            },
            np.zeros((12, 64), np.float32),
        )


def test_a_job_gives_the_same_output_in_the_server_as_in_a_fresh_process(tmp_path, env):
    _store(tmp_path / "s.parquet")
    target = "ecgssl.stages.folds:folds_stage"

    def run(out, environment):
        kwargs = {
            "store": "s.parquet",
            "out_path": out,
            "protocol": "subject_kfold",
            "n_folds": 2,
            "seed": 3,
        }
        proc = _client(tmp_path, environment, target, kwargs, ["store", "out_path"])
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    run("local.tsv", {**env, "ECGSSL_JOB_SERVER": "0"})
    run("first.tsv", env)  # starts a server, runs here
    _wait_for_server(env)
    run("served.tsv", env)
    local = (tmp_path / "local.tsv").read_bytes()
    assert (tmp_path / "first.tsv").read_bytes() == local
    assert (tmp_path / "served.tsv").read_bytes() == local
    assert "12 windows in 2 folds" in (tmp_path / "job.log").read_text()


def test_a_failing_job_fails_its_script_with_the_traceback(tmp_path, env):
    _store(tmp_path / "s.parquet")
    kwargs = {
        "store": "s.parquet",
        "out_path": "o.tsv",
        "protocol": "nope",
        "n_folds": 2,
        "seed": 3,
    }
    target = "ecgssl.stages.folds:folds_stage"
    for _ in range(2):  # the second time through the server
        proc = _client(tmp_path, env, target, kwargs, ["store", "out_path"])
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0
        assert "protocol must be one of" in err
        _wait_for_server(env)
    assert "protocol must be one of" in (tmp_path / "job.log").read_text()
    assert not (tmp_path / "o.tsv").exists()


def test_killing_the_script_kills_its_job(tmp_path, env):
    marker = tmp_path / "still-running"
    command = ["sh", "-c", f"sleep 3; touch {marker}"]
    warm = _client(tmp_path, env, "subprocess:run", {"args": ["true"]})
    warm.communicate(timeout=60)
    _wait_for_server(env)
    proc = _client(tmp_path, env, "subprocess:run", {"args": command})
    time.sleep(1.0)
    proc.kill()  # SIGKILL: no chance to forward anything; the server must notice
    proc.communicate(timeout=30)
    time.sleep(4.0)
    assert not marker.exists(), "the job outlived its script"

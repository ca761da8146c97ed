"""Faults while writing outputs: SIGKILL mid-write, a full disk, a read-only folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ecgssl.data.store import read_windows
from ecgssl.data.synthetic import wesad

REPO = Path(__file__).resolve().parents[2]

#: Build a store from ``argv[1]`` (a WESAD folder) into ``argv[2]``; with a third
#: argument, first cap the size of files this process may write (bytes).
_BUILD = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    import yaml
    if len(sys.argv) > 3:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        cap = int(sys.argv[3])
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))
    from ecgssl.data.datasets import open_reader
    from ecgssl.data.preprocess import PreprocessConfig, build_window_store
    cfg = yaml.safe_load(Path(sys.argv[4] if len(sys.argv) > 4 else "config.yaml")
                         .read_text())["preprocess"]
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    print("start", flush=True)
    try:
        build_window_store(open_reader("wesad", root), root=root,
                           store_path=out / "wesad.parquet", qc_path=out / "wesad.tsv",
                           config=PreprocessConfig.from_dict(cfg))
    except Exception as exc:
        print("ERROR", type(exc).__name__, exc, flush=True)
        sys.exit(3)
    print("done", flush=True)
    """
)


def _run_build(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _BUILD, str(data), str(out), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def wesad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wesad")
    wesad.write(root, seed=3, n_subjects=3, phase_s=40.0)
    return root


@pytest.fixture(scope="module")
def reference(
    wesad_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, float]:
    """An uninterrupted build and how long it took (s)."""
    out = tmp_path_factory.mktemp("reference")
    t0 = time.perf_counter()
    proc = _run_build(wesad_root, out)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    return out, time.perf_counter() - t0


def _leftovers(out: Path) -> list[Path]:
    """Files other than the two outputs."""
    return [p for p in out.iterdir() if p.name not in ("wesad.parquet", "wesad.tsv")]


def _assert_nothing_partial(out: Path, reference_out: Path) -> None:
    """Outputs are absent or complete; temp files cannot pass for outputs."""
    store = out / "wesad.parquet"
    if store.exists():
        n_ref = len(read_windows(reference_out / "wesad.parquet"))
        assert len(read_windows(store)) == n_ref
    qc = out / "wesad.tsv"
    if qc.exists():
        assert qc.read_bytes() == (reference_out / "wesad.tsv").read_bytes()
    for stray in _leftovers(out):
        # a temp file a SIGKILL left behind: hidden and marked, never the output
        # name; note it still ends in the output's suffix (see atomic.py)
        assert stray.name.startswith(".wesad.")
        assert ".tmp" in stray.name


def test_sigkill_at_random_moments_leaves_no_partial_store(
    wesad_root: Path, reference: tuple[Path, float], tmp_path: Path
) -> None:
    ref_out, duration = reference
    rng = np.random.default_rng(20200)
    delays = np.sort(rng.uniform(0.2, 1.0, size=5)) * duration
    seen_temp = False
    for k, delay in enumerate(delays):
        out = tmp_path / f"run{k}"
        out.mkdir()
        proc = _run_build(wesad_root, out)
        time.sleep(float(delay))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        _assert_nothing_partial(out, ref_out)
        seen_temp |= bool(_leftovers(out))
    # the reference build leaves exactly its two outputs
    assert sorted(p.name for p in ref_out.iterdir()) == ["wesad.parquet", "wesad.tsv"]
    del seen_temp  # whether a kill hit the write window depends on timing


def test_file_size_limit_gives_clear_error_and_no_partial_output(
    wesad_root: Path, reference: tuple[Path, float], tmp_path: Path
) -> None:
    ref_out, _ = reference
    size = (ref_out / "wesad.parquet").stat().st_size
    proc = _run_build(wesad_root, tmp_path, str(size // 2))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stdout + stderr[-3000:]
    assert "ERROR" in stdout
    assert f"cannot write {tmp_path / 'wesad.parquet'}" in stdout
    assert "File too large" in stdout
    assert list(tmp_path.iterdir()) == []


def test_json_and_torch_save_on_full_disk(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        import torch
        from ecgssl.util.atomic import write_text_atomic
        from ecgssl.learning.checkpoint import save_checkpoint
        from ecgssl.learning.checkpoint import atomic_torch_save
        out = Path(sys.argv[1])
        state = {"format": "f", "fingerprint": "x", "w": torch.zeros(100_000)}
        for name, write in [
            ("meta.json", lambda p: write_text_atomic(p, "x" * 100_000)),
            ("model.pt", lambda p: atomic_torch_save(torch.zeros(100_000), p)),
            ("checkpoint.pt", lambda p: save_checkpoint(state, p)),
        ]:
            try:
                write(out / name)
            except Exception as exc:
                print("ERROR", name, type(exc).__name__, exc)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for name in ("meta.json", "model.pt", "checkpoint.pt"):
        start = f"ERROR {name} EcgSslError cannot write {tmp_path / name}: "
        assert any(line.startswith(start) for line in lines), proc.stdout
    assert list(tmp_path.iterdir()) == []


def _read_only_dir(tmp_path: Path) -> Path:
    """A folder writes to fail in: a read-only tmpfs as root, else chmod 0555."""
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o555)
        return target
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"root cannot mount a read-only tmpfs here: {proc.stderr!r}")
    return target


def test_read_only_results_folder(tmp_path: Path) -> None:
    from ecgssl.util.atomic import write_text_atomic
    from ecgssl.util.errors import EcgSslError

    target = _read_only_dir(tmp_path)
    try:
        with pytest.raises(EcgSslError, match=str(target / "metrics.json")):
            write_text_atomic(target / "metrics.json", "{}")
        assert list(target.iterdir()) == []
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(target)], check=False)
        else:
            target.chmod(0o755)

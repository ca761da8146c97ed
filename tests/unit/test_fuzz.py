"""Fuzzing the readers: any damaged input reads or raises DataFormatError, quickly."""

from __future__ import annotations

import functools
import io
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ecgssl.data.readers.amigos import AmigosReader
from ecgssl.data.readers.dreamer import DreamerReader
from ecgssl.data.readers.safe_pickle import load_pickle
from ecgssl.data.readers.swell import SwellReader
from ecgssl.data.readers.wesad import WesadReader
from ecgssl.data.synthetic import amigos, dreamer, swell, wesad
from ecgssl.util.errors import DataFormatError

#: Seconds one read may take before the example counts as a hang.
_HANG_S = 30.0
_FUZZ = settings(
    max_examples=150,
    derandomize=True,
    # ms; a read of these few-kB files takes ~10-50 ms, but a damaged MAT header
    # can make scipy allocate a 2**31-element cell array (~8 s, see the report)
    deadline=20000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _mat_parser_crash() -> bytes:
    """Return an uncompressed MAT-file on which scipy 1.17's loadmat segfaults.

    Found by the fuzzer in DREAMER's ``EEG_Electrodes``: a char array whose name
    tag claims 4 bytes (instead of 0) makes the parser take the next tag for the
    character data and index its dtype table out of bounds.
    """
    cell = np.empty((1, 3), dtype=object)
    cell[0, :] = ["FC5", "T7", "AF4"]
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"DREAMER": cell}, do_compression=False)
    data = bytearray(buf.getvalue())
    name_tag = b"\x01\x00\x00\x00\x00\x00\x00\x00\x10\x00\x03\x00FC5\x00"
    at = data.find(name_tag)
    if at < 0:  # pragma: no cover - scipy changed its layout
        raise RuntimeError("savemat layout changed; update the regression input")
    data[at + 4] = 4
    return bytes(data)


#: Regression inputs found by fuzzing (also fed to every target as whole files).
MAT_PARSER_CRASH = _mat_parser_crash()
#: A pickle whose LONG_BINPUT index made the C unpickler allocate ~10 GB (stall).
PICKLE_HUGE_MEMO = b"\x80\x02]r\x61\x6a\x0a\x4b."


@dataclass(frozen=True)
class _Target:
    """One file of a small valid dataset that the fuzzer replaces."""

    name: str
    reader: Callable[[Path], object]
    files: dict[str, bytes]  # relative path -> content of the valid dataset
    victim: str  # the relative path whose content is mutated


def _snapshot(root: Path) -> dict[str, bytes]:
    """Return every file under ``root`` as relative path -> bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _uncompressed(data: bytes) -> bytes:
    """Re-save a MAT-file without compression, so mutations reach the parser."""
    mat = scipy.io.loadmat(io.BytesIO(data))
    buf = io.BytesIO()
    variables = {k: v for k, v in mat.items() if not k.startswith("__")}
    scipy.io.savemat(buf, variables, do_compression=False)
    return buf.getvalue()


def _trim_arrays(obj: object) -> object:
    """Keep the first 40 samples of every array (a small but valid WESAD blob)."""
    if isinstance(obj, dict):
        return {k: _trim_arrays(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj[:40]
    return obj


def _build_targets(base: Path) -> dict[str, _Target]:
    """Write one tiny valid dataset per format with the synthetic writers."""
    out: dict[str, _Target] = {}

    root = base / "dreamer"
    dreamer.write(
        root, seed=1, n_subjects=1, n_trials=1, stimulus_s=(1.0, 1.0), baseline_s=1.0
    )
    files = _snapshot(root)
    out["mat_dreamer"] = _Target("mat_dreamer", DreamerReader, files, "DREAMER.mat")
    raw = {"DREAMER.mat": _uncompressed(files["DREAMER.mat"])}
    out["mat_dreamer_raw"] = _Target(
        "mat_dreamer_raw", DreamerReader, raw, "DREAMER.mat"
    )

    root = base / "amigos"
    amigos.write(
        root,
        seed=1,
        n_subjects=1,
        n_trials=2,
        trial_s=(1.0, 1.0),
        layout="flat",
        write_original=True,
        quirks=False,
    )
    files = _snapshot(root)
    # 1-s trials: keep them whole (the default cuts a 5-s baseline from each)
    whole_trials = functools.partial(AmigosReader, baseline_s=0.0)
    pre = "Data_Preprocessed_P01.mat"
    orig = "Data_Original_P01.mat"
    both = {k: (_uncompressed(v) if k == orig else v) for k, v in files.items()}
    out["mat_amigos_original"] = _Target(
        "mat_amigos_original", whole_trials, both, orig
    )
    only_pre = {pre: _uncompressed(files[pre])}
    out["mat_amigos_pre"] = _Target("mat_amigos_pre", whole_trials, only_pre, pre)

    root = base / "wesad"
    written = wesad.write(root, seed=1, n_subjects=1, phase_s=1.0)
    pkl = next(p for p in written if p.suffix == ".pkl")
    small = wesad.py2_pickle_dumps(_trim_arrays(load_pickle(pkl)))
    rel = str(pkl.relative_to(root))
    out["pickle_wesad"] = _Target("pickle_wesad", WesadReader, {rel: small}, rel)

    root = base / "swell"
    written = swell.write(root, seed=1, n_subjects=1, block_s=1.0, fs=64)
    s00 = sorted(p for p in written if p.suffix == ".S00")
    books = [p for p in written if p.suffix == ".xlsx"]
    keep = {s00[0], *books}
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(keep)}
    rel = str(s00[0].relative_to(root))
    out["poly5_swell"] = _Target("poly5_swell", SwellReader, files, rel)
    for book in books:
        rel = str(book.relative_to(root))
        name = f"xlsx_swell_{book.stem.split()[0].lower()}"
        out[name] = _Target(name, SwellReader, files, rel)
    return out


_BASE = Path(tempfile.mkdtemp(prefix="ecgssl-fuzz-"))
TARGETS = _build_targets(_BASE)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    """Remove the module's fixture folder after its tests."""
    yield
    shutil.rmtree(_BASE, ignore_errors=True)


class _Hang(Exception):
    """A read ran past the per-example time limit."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _Hang(f"read took longer than {_HANG_S} s")


def _read(target: _Target, content: bytes) -> None:
    """Write the dataset with ``content`` as the victim file and read all of it.

    The property: reading succeeds or raises DataFormatError; anything else (or a
    hang past ``_HANG_S``) propagates and fails the example.
    """
    with tempfile.TemporaryDirectory(dir=_BASE) as tmp:
        root = Path(tmp)
        for rel, data in target.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if rel == target.victim else data)
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, _HANG_S)
        error: DataFormatError | None = None
        try:
            reader = target.reader(root)
            reader.files()  # type: ignore[attr-defined]
            for rec in reader.recordings():  # type: ignore[attr-defined]
                assert rec.ecg.ndim == 1
        except DataFormatError as exc:
            error = exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if error is not None:  # the error names a file (or the folder) it read
            assert error.path == root or root in error.path.parents, error


# A mutation: (operation, position, length or bit, payload); positions are taken
# modulo the file size so every draw applies to any file.
_OPS = ("flip", "truncate", "insert", "splice", "delete", "int32")
_mutation = st.tuples(
    st.sampled_from(_OPS),
    st.integers(0, 2**31),
    st.integers(0, 2**31),
    st.binary(min_size=1, max_size=16),
)
_INT32S = (
    b"\xff\xff\xff\x7f",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x80",
)


def _mutate(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    """Apply byte flips, truncations, insertions, splices, deletions, int32 pokes."""
    out = bytearray(data)
    for op, pos, arg, payload in ops:
        n = max(len(out), 1)
        i = pos % n
        if op == "flip" and out:
            out[i] ^= 1 << (arg % 8)
        elif op == "truncate":
            del out[i:]
        elif op == "insert":
            out[i:i] = payload
        elif op == "splice":  # copy a stretch of the file elsewhere in it
            j = (i + arg % 4096) % n
            out[pos % (n + 1) : pos % (n + 1)] = out[min(i, j) : max(i, j)]
        elif op == "delete":
            del out[i : i + 1 + arg % 64]
        elif op == "int32":  # the sizes and counts in all three formats are 32-bit
            out[i : i + 4] = _INT32S[arg % len(_INT32S)]
    return bytes(out)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_valid_fixture_reads(name: str) -> None:
    """The unmutated fixture reads cleanly (else the fuzzing below proves nothing)."""
    target = TARGETS[name]
    with tempfile.TemporaryDirectory(dir=_BASE) as tmp:
        root = Path(tmp)
        for rel, data in target.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        recs = list(target.reader(root).recordings())  # type: ignore[attr-defined]
    assert recs
    assert all(r.ecg.size > 0 for r in recs)


@pytest.mark.parametrize("name", sorted(TARGETS))
@_FUZZ
@given(ops=st.lists(_mutation, min_size=1, max_size=4))
def test_mutated_valid_file(name: str, ops: list[tuple[str, int, int, bytes]]) -> None:
    """Flips, cuts, insertions and splices of a valid file: read or DataFormatError."""
    target = TARGETS[name]
    _read(target, _mutate(target.files[target.victim], ops))


def test_mat_parser_unbound_local_is_a_format_error() -> None:
    """Found by the fuzzer: scipy's reader raised UnboundLocalError on this flip."""
    target = TARGETS["mat_amigos_original"]
    _read(target, _mutate(target.files[target.victim], [("flip", 200, 4, b"\x00")]))


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(_FUZZ, max_examples=40)
@given(content=st.binary(max_size=2048))
@example(content=b"")
@example(content=MAT_PARSER_CRASH)
@example(content=PICKLE_HUGE_MEMO)
def test_random_bytes(name: str, content: bytes) -> None:
    """Random bytes in place of a data file: DataFormatError (or, rarely, a read)."""
    _read(TARGETS[name], content)


def test_mat_parser_crash_is_a_data_format_error(tmp_path: Path) -> None:
    """Regression: a file that segfaults scipy's parser is reported, not fatal."""
    (tmp_path / "DREAMER.mat").write_bytes(MAT_PARSER_CRASH)
    with pytest.raises(DataFormatError, match="parser crashed on it .SIGSEGV"):
        list(DreamerReader(tmp_path).recordings())


def test_pickle_huge_memo_index_is_quick(tmp_path: Path) -> None:
    """Regression: a LONG_BINPUT index of ~1.3e9 neither stalls nor allocates."""
    (tmp_path / "S2").mkdir()
    (tmp_path / "S2" / "S2.pkl").write_bytes(PICKLE_HUGE_MEMO)
    with pytest.raises(DataFormatError, match="expected a dict, got list"):
        list(WesadReader(tmp_path).recordings())

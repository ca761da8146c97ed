"""Tests for the restricted WESAD unpickler."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ecgssl.data.readers.safe_pickle import load_pickle
from ecgssl.data.synthetic.wesad import py2_pickle_dumps
from ecgssl.util.errors import DataFormatError


class _Payload:
    """Pickles as ``func(*args)``: what a malicious data file would contain."""

    def __init__(self, func, *args) -> None:
        self.func = func
        self.args = args

    def __reduce__(self):
        return self.func, self.args


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("protocol", [2, 4])
def test_os_system_payload_is_refused_before_it_runs(tmp_path: Path, protocol: int):
    marker = tmp_path / "pwned"
    payload = _Payload(os.system, f"touch {marker}")
    blob = {"signal": np.zeros(3), "evil": payload}
    path = _write(tmp_path / "S2.pkl", pickle.dumps(blob, protocol=protocol))
    with pytest.raises(DataFormatError) as info:
        load_pickle(path)
    assert info.value.field == "pickle global"
    assert info.value.path == path
    assert "forbidden global" in str(info.value)
    assert "system" in str(info.value)
    assert not marker.exists()
    # control: the same pickle really does run the command when loaded unrestricted
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_hand_written_py2_global_payload_is_refused(tmp_path: Path):
    marker = tmp_path / "pwned"
    cmd = f"touch {marker}".encode()
    data = b"\x80\x02cos\nsystem\nU" + bytes([len(cmd)]) + cmd + b"\x85R."
    path = _write(tmp_path / "x.pkl", data)
    with pytest.raises(DataFormatError, match="forbidden global 'os.system'"):
        load_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize(
    ("func", "args", "name"),
    [
        (builtins.eval, ("__import__('os').getcwd()",), "builtins.eval"),
        (subprocess.Popen, (["true"],), "subprocess.Popen"),
        (builtins.getattr, ("abc", "upper"), "builtins.getattr"),
    ],
)
def test_other_dangerous_globals_are_refused(
    tmp_path: Path, func, args, name, protocol
):
    data = pickle.dumps(_Payload(func, *args), protocol=protocol)
    path = _write(tmp_path / "x.pkl", data)
    with pytest.raises(DataFormatError) as info:
        load_pickle(path)
    assert info.value.field == "pickle global"
    # protocol 2 writes py2 module names (__builtin__, commands); 4 the py3 ones
    expected = f"'{name}'" if protocol == 4 else name.split(".")[1] + "'"
    assert expected in str(info.value)


def test_legit_python2_pickle_loads(tmp_path: Path):
    ecg = np.linspace(-1, 1, 50).reshape(-1, 1)
    label = np.arange(50, dtype=np.int32) % 8
    blob = {
        "signal": {"chest": {"ECG": ecg, "ACC": np.ones((50, 3))}},
        "label": label,
        "subject": "S2",
        "extra": [1, 2.5, None, (3, "x")],
    }
    path = _write(tmp_path / "S2.pkl", py2_pickle_dumps(blob))
    with path.open("rb") as fh, pytest.raises(UnicodeDecodeError):
        pickle.load(fh)  # a py2 pickle needs latin1, as WESAD's do
    out = load_pickle(path)
    assert out["subject"] == "S2"
    np.testing.assert_array_equal(out["signal"]["chest"]["ECG"], ecg)
    assert out["signal"]["chest"]["ECG"].dtype == np.float64
    np.testing.assert_array_equal(out["label"], label)
    assert out["label"].dtype == np.int32
    assert out["extra"] == [1, 2.5, None, (3, "x")]


def test_modern_numpy_pickle_and_scalars_load(tmp_path: Path):
    blob = {"a": np.arange(6.0).reshape(2, 3), "s": np.float64(1.5), "i": np.int32(7)}
    path = _write(tmp_path / "x.pkl", pickle.dumps(blob, protocol=4))
    out = load_pickle(path)
    np.testing.assert_array_equal(out["a"], blob["a"])
    assert out["s"] == 1.5
    assert out["i"] == 7


def test_zero_byte_truncated_and_garbage_pickles(tmp_path: Path):
    empty = _write(tmp_path / "empty.pkl", b"")
    with pytest.raises(DataFormatError, match="empty") as info:
        load_pickle(empty)
    assert info.value.field == "pickle"
    assert str(empty) in str(info.value)

    full = py2_pickle_dumps({"signal": np.arange(100.0)})
    cut = _write(tmp_path / "cut.pkl", full[: len(full) // 2])
    with pytest.raises(DataFormatError) as info:
        load_pickle(cut)
    assert info.value.field == "pickle"

    garbage = _write(tmp_path / "garbage.pkl", b"\x00\xffnot a pickle at all")
    with pytest.raises(DataFormatError) as info:
        load_pickle(garbage)
    assert info.value.field == "pickle"

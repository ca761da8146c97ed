"""Tests for the Poly5 (.S00) reader and writer."""

from __future__ import annotations

import logging
import struct
from datetime import datetime
from pathlib import Path

import _poly5fixtures
import numpy as np
import pytest

from ecgssl.data.readers.poly5 import read_poly5, write_poly5
from ecgssl.util.errors import DataFormatError

HEADER = {203: 217, 204: 218}
# byte offsets of header fields in v2.03 (v2.04: +1)
OFF_VERSION, OFF_NS, OFF_TOTAL, OFF_NB = 31, 119, 121, 143


def _signals(n_ch: int = 3, n: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (100 * rng.standard_normal((n_ch, n))).astype(np.float32)


def _write(path: Path, x: np.ndarray, **kw) -> Path:
    kw.setdefault("samples_per_block", 64)
    names = [f"ch{i + 1}" for i in range(x.shape[0])]
    return write_poly5(path, x, fs=256, names=names, units=["µV"] * x.shape[0], **kw)


def _patch(path: Path, offset: int, fmt: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("version", [203, 204])
@pytest.mark.parametrize("n", [1000, 1024])  # partial and complete last block
def test_round_trip(tmp_path: Path, version: int, n: int):
    x = _signals(n=n)
    start = datetime(2012, 10, 9, 13, 45, 7)
    path = _write(
        tmp_path / "a.S00", x, version=version, start_time=start, measurement="pp11"
    )
    n_blocks = -(-n // 64)
    assert path.stat().st_size == HEADER[version] + 6 * 136 + n_blocks * 86 + n * 12
    rec = read_poly5(path)
    assert rec.version == version
    assert rec.fs == 256.0
    assert rec.names == ("ch1", "ch2", "ch3")
    assert rec.units == ("µV",) * 3
    assert rec.start_time == start
    assert rec.measurement == "pp11"
    assert rec.signals.dtype == np.float32
    assert rec.signals.shape == (3, n)
    np.testing.assert_array_equal(rec.signals, x)


def test_header_struct_layout(tmp_path: Path):
    path = _write(tmp_path / "a.S00", _signals())
    data = path.read_bytes()
    assert data[:31] == b"POLY SAMPLE FILEversion 2.03\r\n\x1a"
    assert struct.unpack_from("<h", data, OFF_VERSION)[0] == 203
    assert struct.unpack_from("<H", data, OFF_NS)[0] == 6
    assert struct.unpack_from("<i", data, OFF_TOTAL)[0] == 1000
    assert struct.unpack_from("<i", data, OFF_NB)[0] == 16
    assert struct.unpack_from("<HH", data, OFF_NB + 4) == (64, 64 * 3 * 4)
    # descriptions come in (Lo)/(Hi) pairs
    name = data[217 : 217 + 41]
    assert name[1 : 1 + name[0]] == b"(Lo) ch1"
    name = data[217 + 136 : 217 + 136 + 41]
    assert name[1 : 1 + name[0]] == b"(Hi) ch1"


def test_writer_spells_the_identifiers_as_tmsi(tmp_path: Path):
    v3 = _write(tmp_path / "a.S00", _signals(), version=203).read_bytes()
    v4 = _write(tmp_path / "b.S00", _signals(), version=204).read_bytes()
    assert v3[:31] == b"POLY SAMPLE FILEversion 2.03\r\n\x1a"
    assert v4[:32] == b"POLY SAMPLE FILE version 2.04\r\n\x1a"
    assert struct.unpack_from("<h", v4, 32)[0] == 204


def test_data_is_sample_interleaved(tmp_path: Path):
    x = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]], dtype=np.float32)
    path = _write(tmp_path / "a.S00", x)
    first = np.frombuffer(path.read_bytes(), "<f4", 6, 217 + 4 * 136 + 86)
    np.testing.assert_array_equal(first, [1, 10, 2, 20, 3, 30])
    np.testing.assert_array_equal(read_poly5(path).signals, x)


def test_non_identity_calibration_uses_second_description(tmp_path: Path):
    x = _signals(n_ch=2, n=300)
    cal = [[-500.0, 500.0, -8000.0, 8000.0], [5.0, 7.0, 100.0, 300.0]]
    path = _write(tmp_path / "a.S00", x, calibration=cal)
    stored = np.frombuffer(path.read_bytes(), "<f4", 2, 217 + 4 * 136 + 86)
    np.testing.assert_allclose(
        stored, [x[0, 0] * 16, (x[1, 0] - 5) * 100 + 100], rtol=1e-5
    )
    np.testing.assert_allclose(read_poly5(path).signals, x, rtol=1e-5, atol=1e-3)
    # corrupt the (Lo) descriptions' ranges: the reader must not use them
    data = bytearray(path.read_bytes())
    for c in range(2):
        struct.pack_into("<4f", data, 217 + 2 * c * 136 + 56, 1.0, 9.0, 3.0, 4.0)
    path.write_bytes(bytes(data))
    np.testing.assert_allclose(read_poly5(path).signals, x, rtol=1e-5, atol=1e-3)


def test_zero_byte_and_short_header(tmp_path: Path):
    empty = tmp_path / "empty.S00"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty") as info:
        read_poly5(empty)
    assert (info.value.path, info.value.field) == (empty, "header")
    path = _write(tmp_path / "a.S00", _signals())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataFormatError) as info:
        read_poly5(path)
    assert info.value.field == "header"


def test_unknown_identifier_text_with_valid_version_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    x = _signals()
    path = _write(tmp_path / "a.S00", x)
    path.write_bytes(b"POLY SAMPLE FILE" + b"X" * 15 + path.read_bytes()[31:])
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.poly5"):
        rec = read_poly5(path)
    assert "unexpected Poly5 identifier" in caplog.text
    np.testing.assert_array_equal(rec.signals, x)


def test_not_a_poly5_file(tmp_path: Path):
    path = tmp_path / "a.S00"
    path.write_bytes(b"Hello, this is a text file and not a Poly5 recording." * 10)
    with pytest.raises(DataFormatError, match="not a Poly5 file") as info:
        read_poly5(path)
    assert (info.value.path, info.value.field) == (path, "version")


def test_unknown_version(tmp_path: Path):
    path = _write(tmp_path / "a.S00", _signals())
    _patch(path, OFF_VERSION, "<h", 205)
    with pytest.raises(DataFormatError, match="205") as info:
        read_poly5(path)
    assert info.value.field == "version"


@pytest.mark.parametrize("ns", [0, 5])
def test_ns_odd_or_zero(tmp_path: Path, ns: int):
    path = _write(tmp_path / "a.S00", _signals())
    _patch(path, OFF_NS, "<H", ns)
    with pytest.raises(DataFormatError) as info:
        read_poly5(path)
    assert info.value.field == "NS"


@pytest.mark.parametrize("version", [203, 204])
@pytest.mark.parametrize("nb", [10, 20])
def test_block_count_disagrees_with_file_size(tmp_path: Path, version: int, nb: int):
    path = _write(tmp_path / "a.S00", _signals(), version=version)  # 16 blocks
    _patch(path, OFF_NB + (version - 203), "<i", nb)
    with pytest.raises(DataFormatError, match=f"header says {nb} blocks") as info:
        read_poly5(path)
    assert (info.value.path, info.value.field) == (path, "NB")


@pytest.mark.parametrize("cut", [40, 500, 3000])
def test_truncated_data(tmp_path: Path, cut: int):
    path = _write(tmp_path / "a.S00", _signals())
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(DataFormatError, match="truncated") as info:
        read_poly5(path)
    assert info.value.field == "data"


def test_truncated_descriptions(tmp_path: Path):
    path = _write(tmp_path / "a.S00", _signals())
    path.write_bytes(path.read_bytes()[: 217 + 300])
    with pytest.raises(DataFormatError) as info:
        read_poly5(path)
    assert info.value.field == "signal descriptions"


def test_default_block_size_fits_uint16(tmp_path: Path):
    x = _signals(n_ch=10, n=5000)
    path = write_poly5(
        tmp_path / "a.S00", x, fs=2048, names=["c"] * 10, units=["µV"] * 10
    )
    data = path.read_bytes()
    spb, sd = struct.unpack_from("<HH", data, OFF_NB + 4)
    assert sd == spb * 40 <= 65535
    np.testing.assert_array_equal(read_poly5(path).signals, x)


def test_writer_validates(tmp_path: Path):
    with pytest.raises(ValueError, match="signals"):
        write_poly5(tmp_path / "a", np.zeros(5), fs=1, names=["a"], units=["u"])
    with pytest.raises(ValueError, match="version"):
        _write(tmp_path / "a", _signals(), version=202)


@pytest.mark.parametrize(
    "cal",
    [(-3e38, 3e38, 0.0, 1e-30), (0.0, float("nan"), 0.0, 1.0), (0.0, 1.0, 0.0, np.inf)],
)
def test_calibration_that_is_not_finite(tmp_path: Path, cal):
    path = _write(tmp_path / "a.S00", _signals(n_ch=1, n=100))
    data = bytearray(path.read_bytes())
    struct.pack_into("<4f", data, 217 + 136 + 56, *cal)  # the (Hi) description
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match="calibration"):
        read_poly5(path)


# ------------------------------------------- files written byte by byte (not by us)
@pytest.mark.parametrize(
    ("version", "identifier"),
    [
        (203, _poly5fixtures.V203),
        (204, _poly5fixtures.V204),  # TMSi's spelling: a space before "version"
        (204, b"POLY SAMPLE FILEversion 2.04\r\n\x1a\x00"),  # no space, NUL-padded
    ],
)
def test_handmade_files_of_both_versions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, version: int, identifier: bytes
):
    x = _signals(n_ch=4, n=333)
    start = datetime(2012, 10, 9, 13, 45, 7)
    path = _poly5fixtures.handmade_poly5(
        tmp_path / "a.S00", x, version=version, identifier=identifier, start=start
    )
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.poly5"):
        rec = read_poly5(path)
    assert caplog.text == ""  # known spellings and µVolt are not warnings
    assert rec.version == version
    assert rec.start_time == start
    assert rec.units == ("µVolt",) * 4
    assert rec.names == ("Channel 1", "Channel 2", "Channel 3", "Channel 4")
    np.testing.assert_array_equal(rec.signals, x)


@pytest.mark.parametrize(
    ("unit", "text"),
    [(b"\xc2\xb5Volt", "µVolt"), (b"\xb5Volt", "µVolt"), (b"uV", "uV")],
)
def test_unit_strings_in_utf8_or_latin1(tmp_path: Path, unit: bytes, text: str):
    path = _poly5fixtures.handmade_poly5(tmp_path / "a.S00", _signals(), unit=unit)
    assert read_poly5(path).units[0] == text

"""Poly5 files built byte by byte from the published layout, not with our writer.

Tests that check the reader against the format use these files, so that a mistake
shared by ``ecgssl.data.readers.poly5.write_poly5`` and the reader cannot hide.
Layout (little-endian; TMSi ``tms_read.m``, FieldTrip ``read_tmsi_poly5.m``):
identifier (31 bytes in v2.03, 32 in v2.04), int16 version, 81-byte Pascal
measurement name, int16 fs, int16 storage rate, uint8 storage type, int16 NS,
int32 total samples, 4 reserved, 7 x int16 start time, int32 NB, uint16 samples per
block, uint16 SD, int16 compression, 64 reserved; NS descriptions of 136 bytes;
NB blocks of an 86-byte header and SD bytes of sample-interleaved float32.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

V203 = b"POLY SAMPLE FILEversion 2.03\r\n\x1a"
V204 = b"POLY SAMPLE FILE version 2.04\r\n\x1a"


def _pascal(text: bytes, size: int) -> bytes:
    """A Pascal string: one length byte, the text, zero padding to ``size`` bytes."""
    body = text[: size - 1]
    return bytes([len(body)]) + body + b"\x00" * (size - 1 - len(body))


def _i16(value: int) -> bytes:
    return int(value).to_bytes(2, "little", signed=True)


def _u16(value: int) -> bytes:
    return int(value).to_bytes(2, "little", signed=False)


def _i32(value: int) -> bytes:
    return int(value).to_bytes(4, "little", signed=True)


def handmade_poly5(
    path: Path,
    signals: np.ndarray,
    *,
    version: int = 204,
    identifier: bytes | None = None,
    fs: int = 256,
    unit: bytes = "µVolt".encode(),
    names: list[bytes] | None = None,
    start: datetime = datetime(2012, 9, 18, 9, 0, 0),
    samples_per_block: int = 50,
) -> Path:
    """Write ``signals`` (n_channels, n_samples), identity calibration, as Poly5.

    ``identifier`` defaults to TMSi's text for ``version`` (203: 31 bytes, else
    32 bytes, version at byte 32). ``unit`` is written as raw bytes (UTF-8
    ``µVolt`` by default, as in the SWELL files).
    """
    x = np.asarray(signals, dtype="<f4")
    n_ch, n = x.shape
    ident = identifier if identifier is not None else (V203 if version == 203 else V204)
    size = 31 if version == 203 else 32
    assert len(ident) == size, "identifier length must match the version"
    names = names or [f"Channel {c + 1}".encode() for c in range(n_ch)]
    nb = -(-n // samples_per_block)
    sd = samples_per_block * n_ch * 4
    time7 = [start.year, start.month, start.day, start.isoweekday() % 7]
    time7 += [start.hour, start.minute, start.second]
    header = ident + _i16(version) + _pascal(b"handmade", 81)
    header += _i16(fs) + _i16(fs) + bytes([1]) + _i16(2 * n_ch) + _i32(n)
    header += b"\x00" * 4 + b"".join(_i16(v) for v in time7)
    header += _i32(nb) + _u16(samples_per_block) + _u16(sd) + _i16(0) + b"\x00" * 64
    assert len(header) == (217 if version == 203 else 218)
    descs = b""
    for c in range(n_ch):
        for part, index in ((b"(Lo) ", 2 * c), (b"(Hi) ", 2 * c + 1)):
            desc = _pascal(part + names[c], 41) + b"\x00" * 4 + _pascal(unit, 11)
            desc += np.array([0.0, 1.0, 0.0, 1.0], dtype="<f4").tobytes()
            desc += _i16(index) + _i16(0) + b"\x00" * 60
            assert len(desc) == 136
            descs += desc
    frames = x.T.reshape(-1)  # sample-interleaved
    blocks = b""
    for g in range(nb):
        chunk = frames[
            g * samples_per_block * n_ch : (g + 1) * samples_per_block * n_ch
        ]
        head = _i32(g) + b"\x00" * 4 + b"".join(_i16(v) for v in time7)
        blocks += head + b"\x00" * 64 + chunk.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + descs + blocks)
    return path

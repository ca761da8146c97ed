"""Read and write TMSi Poly5 (``.S00``) files, versions 2.03 and 2.04."""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ecgssl.util.checks import check_option
from ecgssl.util.errors import DataFormatError

__all__ = ["V204_IDENTIFIER", "Poly5", "read_poly5", "write_poly5"]

log = logging.getLogger(__name__)

# Layout (little-endian), after TMSi's tms_read.m / poly5reader and biosig's TMS32:
# a 217-byte header (31-byte identifier, v2.03) or 218-byte header (32-byte
# identifier, v2.04), NS = 2 x channels signal descriptions of 136 bytes in
# "(Lo) X"/"(Hi) X" pairs, then NB blocks of an 86-byte block header + SD bytes of
# sample-interleaved float32.
#
# The version decides the layout, not the identifier text: tms_read.m (shipped with
# SWELL-KW) and FieldTrip's read_tmsi_poly5.m read the int16 at byte 31; 203 means a
# 31-byte identifier, anything else a 32-byte one with the version at byte 32. TMSi's
# own code and a Delphi TMS32 unit write v2.04 as "POLY SAMPLE FILE version 2.04"
# (a space before "version"); v2.03 has none. Both spellings are known; another
# text with a valid version is read with a warning.
_IDENTIFIERS = {
    203: (b"POLY SAMPLE FILEversion 2.03\r\n\x1a",),
    204: (
        b"POLY SAMPLE FILE version 2.04\r\n\x1a",  # what TMSi writes (32 bytes)
        b"POLY SAMPLE FILEversion 2.04\r\n\x1a\x00",  # the v2.03 text, padded
    ),
}
#: The 32-byte v2.04 identifier as TMSi writes it.
V204_IDENTIFIER = _IDENTIFIERS[204][0]
_HEADER_FMT = {
    203: "=31sH81phhBHi4xHHHHHHHiHHH64x",
    204: "=32sH81phhBHi4xHHHHHHHiHHH64x",
}
_DESC_FMT = "=41p4x11pffffH62x"
_DESC_SIZE = struct.calcsize(_DESC_FMT)  # 136
_BLOCK_HEADER_FMT = "=i4x7h64x"
_BLOCK_HEADER_SIZE = struct.calcsize(_BLOCK_HEADER_FMT)  # 86
_MAX_SD = 65535  # SD is a uint16
_DEFAULT_START = datetime(2012, 9, 18, 9, 0, 0)


@dataclass(frozen=True)
class Poly5:
    """A Poly5 recording.

    Attributes
    ----------
    fs : float
        Sampling rate in Hz (header field).
    names : tuple[str, ...]
        Channel names (the "(Hi) " prefix of the second description removed).
    units : tuple[str, ...]
        Channel units (e.g. ``"µV"``).
    version : int
        203 or 204.
    signals : np.ndarray, shape (n_channels, n_samples)
        float32, calibrated to ``units``.
    start_time : datetime | None
        Recording start from the header, None if the header's date is invalid.
    measurement : str
        The measurement name from the header.
    """

    fs: float
    names: tuple[str, ...]
    units: tuple[str, ...]
    version: int
    signals: np.ndarray
    start_time: datetime | None
    measurement: str = ""


def _unpack_header(path: Path, raw: bytes) -> tuple[int, tuple]:
    """Detect the version (int16 at byte 31, else at 32) and unpack the main header."""
    if len(raw) == 0:
        raise DataFormatError(path, "header", "empty (zero-byte) file")
    if len(raw) < 34:
        raise DataFormatError(path, "header", f"truncated header ({len(raw)} B)")
    # tms_read.m peeks at int16 @31: 203 means a 31-byte identifier, otherwise the
    # identifier has 32 bytes and the version follows at byte 32.
    at31 = struct.unpack_from("<h", raw, 31)[0]
    version = at31 if at31 == 203 else struct.unpack_from("<h", raw, 32)[0]
    id_size = 31 if version == 203 else 32
    identifier = raw[:id_size]
    if version not in _HEADER_FMT:
        raise DataFormatError(
            path,
            "version",
            f"not a Poly5 file or an unknown version (int16 at byte 31: {at31}, at "
            f"byte 32: {version}; expected 203 at 31 or 204 at 32; identifier "
            f"{identifier!r})",
        )
    if identifier not in _IDENTIFIERS[version]:
        log.warning(
            "%s: unexpected Poly5 identifier %r for version %d; reading by the "
            "version number, as TMSi's tms_read.m does",
            path,
            identifier,
            version,
        )
    fmt = _HEADER_FMT[version]
    if len(raw) < struct.calcsize(fmt):
        raise DataFormatError(
            path, "header", f"truncated header ({len(raw)} < {struct.calcsize(fmt)} B)"
        )
    return version, struct.unpack_from(fmt, raw, 0)


def _text(raw: bytes) -> str:
    """Decode a header string: UTF-8 where valid (e.g. ``µVolt``), else latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin1")


def _start_time(fields: tuple) -> datetime | None:
    """Build the start time from (Y, M, D, DOW, h, m, s), None if invalid."""
    year, month, day, _dow, hour, minute, second = fields
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def read_poly5(path: str | Path) -> Poly5:
    """Read a Poly5 file (v2.03 or v2.04, uncompressed float32 data).

    Parameters
    ----------
    path : str | Path
        The ``.S00`` file.

    Returns
    -------
    Poly5
        ``signals`` of shape (n_channels, n_samples), float32, calibrated with the
        second description of each (Lo, Hi) pair:
        ``(x - ADCLow) / (ADCHigh - ADCLow) * (UnitHigh - UnitLow) + UnitLow``.
        Every channel is kept (including all-zero ones), so logical channel ``k``
        (1-based) is ``signals[k - 1]``. Names and units are decoded as UTF-8
        where valid (``µVolt`` in the SWELL files), else latin-1. The identifier
        text is not required: the version number decides the layout, and an
        unknown text with version 203 or 204 is only a warning.

    Raises
    ------
    DataFormatError
        Naming the file and the header field: empty file or short header
        (``header``), neither 203 at byte 31 nor 204 at byte 32 (``version``:
        not a Poly5 file, or an unknown version), NS odd
        or zero (``NS``), block size inconsistent with NS (``SD``), a block count
        that disagrees with the file size (``NB``), truncated descriptions
        (``signal descriptions``) or data (``data``).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(218)
            version, hdr = _unpack_header(path, head)
            hdr_size = struct.calcsize(_HEADER_FMT[version])
            (
                _magic,
                _version,
                measurement,
                fs,
                _storage_rate,
                _storage_type,
                ns,
                total_samples,
                *time_fields,
            ) = hdr[:15]
            nb, spb, sd, compression = hdr[15:19]
            if ns == 0 or ns % 2:
                raise DataFormatError(
                    path, "NS", f"{ns} signal descriptions: must be even and > 0"
                )
            n_ch = ns // 2
            frame = 4 * n_ch  # bytes per sample frame (all channels)
            if sd == 0 or sd % frame:
                raise DataFormatError(
                    path,
                    "SD",
                    f"{sd} data bytes per block is not a multiple of {frame}",
                )
            if spb != sd // frame:
                log.warning(
                    "%s: header says %d samples per block but SD=%d gives %d; using SD",
                    path,
                    spb,
                    sd,
                    sd // frame,
                )
                spb = sd // frame
            if compression:
                log.warning(
                    "%s: delta-compression flag %d set; reading data as float32",
                    path,
                    compression,
                )
            if fs <= 0:
                raise DataFormatError(path, "fs", f"sampling rate {fs} must be > 0")
            fh.seek(hdr_size)
            desc_raw = fh.read(ns * _DESC_SIZE)
            if len(desc_raw) < ns * _DESC_SIZE:
                raise DataFormatError(
                    path,
                    "signal descriptions",
                    f"truncated: {len(desc_raw)} of {ns * _DESC_SIZE} bytes",
                )
            descs = [
                struct.unpack_from(_DESC_FMT, desc_raw, i * _DESC_SIZE)
                for i in range(ns)
            ]
            data_offset = hdr_size + ns * _DESC_SIZE
            block_bytes = _BLOCK_HEADER_SIZE + sd
            avail = size - data_offset
            n_blocks_file = math.ceil(avail / block_bytes) if avail > 0 else 0
            nb_from_total = math.ceil(total_samples / spb) if total_samples > 0 else nb
            if n_blocks_file != nb:
                if n_blocks_file < nb and nb == nb_from_total:
                    raise DataFormatError(
                        path,
                        "data",
                        f"truncated: the file ends in block {n_blocks_file} of {nb}",
                    )
                raise DataFormatError(
                    path,
                    "NB",
                    f"header says {nb} blocks but the file size ({size} B, "
                    f"{block_bytes} B per block) holds {n_blocks_file}",
                )
            n_full = nb - 1 if nb else 0
            block_dtype = np.dtype(
                [("head", f"V{_BLOCK_HEADER_SIZE}"), ("data", "<f4", (spb * n_ch,))]
            )
            fh.seek(data_offset)
            full = np.fromfile(fh, dtype=block_dtype, count=n_full)
            tail = fh.read(block_bytes) if nb else b""
    except OSError as exc:
        raise DataFormatError(path, "file", f"cannot read: {exc}") from exc

    last_data = len(tail) - _BLOCK_HEADER_SIZE
    if nb and (last_data <= 0 or last_data % frame):
        raise DataFormatError(
            path, "data", f"truncated last block ({len(tail)} of {block_bytes} B)"
        )
    last = np.frombuffer(tail, dtype="<f4", offset=_BLOCK_HEADER_SIZE) if nb else None
    n_avail = n_full * spb + (last.size // n_ch if last is not None else 0)
    if total_samples > n_avail:
        raise DataFormatError(
            path,
            "data",
            f"truncated: header says {total_samples} samples, file holds {n_avail}",
        )
    n = total_samples if total_samples > 0 else n_avail

    raw = np.empty((n_ch, n_avail), dtype=np.float32)
    # sample-interleaved: frame j holds channels 0..n_ch-1 of sample j
    raw[:, : n_full * spb] = full["data"].reshape(-1, n_ch).T
    if last is not None:
        raw[:, n_full * spb :] = last.reshape(-1, n_ch).T
    signals = raw[:, :n] if n < n_avail else raw

    names: list[str] = []
    units: list[str] = []
    for c in range(n_ch):
        name, unit, u_lo, u_hi, a_lo, a_hi, _index = descs[2 * c + 1]
        if a_hi == a_lo:
            raise DataFormatError(
                path,
                f"signal description {2 * c + 2} ADCHigh",
                f"equals ADCLow ({a_lo}): cannot calibrate channel {c + 1}",
            )
        text = _text(name)
        names.append(text[5:] if text[:5] in ("(Hi) ", "(Lo) ") else text)
        units.append(_text(unit))
        with np.errstate(over="ignore", invalid="ignore"):
            scale = np.float32((u_hi - u_lo) / (a_hi - a_lo))
        if not np.isfinite(scale) or not all(
            np.isfinite(v) for v in (u_lo, u_hi, a_lo, a_hi)
        ):
            raise DataFormatError(
                path,
                f"signal description {2 * c + 2} calibration",
                f"not finite in float32 (UnitLow {u_lo}, UnitHigh {u_hi}, ADCLow "
                f"{a_lo}, ADCHigh {a_hi})",
            )
        if (a_lo, a_hi, u_lo, u_hi) != (0.0, 1.0, 0.0, 1.0):
            signals[c] = (signals[c] - np.float32(a_lo)) * scale + np.float32(u_lo)
    log.debug(
        "%s: Poly5 v%d, %d channels, %d samples at %d Hz", path, version, n_ch, n, fs
    )
    return Poly5(
        fs=float(fs),
        names=tuple(names),
        units=tuple(units),
        version=version,
        signals=np.ascontiguousarray(signals),
        start_time=_start_time(tuple(time_fields)),
        measurement=_text(measurement),
    )


def write_poly5(
    path: str | Path,
    signals: ArrayLike,
    *,
    fs: int,
    names: list[str] | tuple[str, ...],
    units: list[str] | tuple[str, ...],
    version: int = 203,
    samples_per_block: int | None = None,
    calibration: ArrayLike | None = None,
    start_time: datetime | None = None,
    measurement: str = "",
    encoding: str = "latin1",
) -> Path:
    """Write a Poly5 file (float32 data, one (Lo, Hi) description pair per channel).

    Parameters
    ----------
    path : str | Path
        Output file.
    signals : array_like, shape (n_channels, n_samples)
        Calibrated values in ``units``.
    fs : int
        Sampling rate in Hz (stored as int16).
    names, units : sequence of str
        One per channel (names up to 35 bytes after the "(Hi) " prefix, units up
        to 10 bytes, in ``encoding``).
    version : int
        203 (217-byte header, identifier ``POLY SAMPLE FILEversion 2.03``) or 204
        (218-byte header, identifier ``POLY SAMPLE FILE version 2.04`` as TMSi
        writes it).
    samples_per_block : int | None
        Samples per data block; default: the largest power of two whose block fits
        the uint16 SD field. The last block holds only the remaining samples.
    calibration : array_like, shape (n_channels, 4), optional
        (UnitLow, UnitHigh, ADCLow, ADCHigh) per channel; default identity
        (0, 1, 0, 1). Stored values are ``(x - UnitLow) / (UnitHigh - UnitLow)
        * (ADCHigh - ADCLow) + ADCLow`` so that the reader's calibration gives ``x``.
    start_time : datetime | None
        Recording start stored in the header and the block headers; default
        2012-09-18 09:00:00 (a fixed value keeps output deterministic).
    measurement : str
        Measurement name (up to 80 bytes).
    encoding : {"latin1", "utf-8"}
        Encoding of names, units and measurement (the SWELL files hold UTF-8
        ``µVolt``).

    Returns
    -------
    Path
        ``path``.
    """
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"signals must be (n_channels, n_samples), got {x.shape}")
    n_ch, n = x.shape
    if len(names) != n_ch or len(units) != n_ch:
        raise ValueError("names and units must have one entry per channel")
    check_option(version, tuple(_HEADER_FMT), "version")
    check_option(encoding, ("latin1", "utf-8"), "encoding")
    if not isinstance(fs, int) or not 0 < fs < 2**15:
        raise ValueError(f"fs must be an int in 1..32767, got {fs!r}")
    frame = 4 * n_ch
    if frame > _MAX_SD:
        raise ValueError(f"too many channels ({n_ch}) for the uint16 SD field")
    if samples_per_block is None:
        samples_per_block = 2 ** int(math.log2(_MAX_SD // frame))
    if not 0 < samples_per_block * frame <= _MAX_SD:
        raise ValueError(f"samples_per_block {samples_per_block} out of range")
    cal = (
        np.tile([0.0, 1.0, 0.0, 1.0], (n_ch, 1))
        if calibration is None
        else np.asarray(calibration, dtype=np.float64)
    )
    if cal.shape != (n_ch, 4) or np.any(cal[:, 1] == cal[:, 0]):
        raise ValueError("calibration must be (n_channels, 4) with UnitHigh != UnitLow")
    u_lo, u_hi, a_lo, a_hi = (cal[:, i : i + 1] for i in range(4))
    stored = ((x - u_lo) / (u_hi - u_lo) * (a_hi - a_lo) + a_lo).astype("<f4")

    spb = samples_per_block
    nb = math.ceil(n / spb)
    t = _DEFAULT_START if start_time is None else start_time
    time7 = (t.year, t.month, t.day, t.isoweekday() % 7, t.hour, t.minute, t.second)
    header = struct.pack(
        _HEADER_FMT[version],
        _IDENTIFIERS[version][0],
        version,
        measurement.encode(encoding)[:80],
        fs,
        fs,
        1,
        2 * n_ch,
        n,
        *time7,
        nb,
        spb,
        spb * frame,
        0,
    )
    descs = []
    for c in range(n_ch):
        for part in ("Lo", "Hi"):
            descs.append(
                struct.pack(
                    _DESC_FMT,
                    f"({part}) {names[c]}".encode(encoding)[:40],
                    units[c].encode(encoding)[:10],
                    *(float(v) for v in cal[c]),
                    2 * c + (part == "Hi"),
                )
            )
    path = Path(path)
    interleaved = stored.T.reshape(-1)  # frame-major: sample j, channels 0..n_ch-1
    with path.open("wb") as fh:
        fh.write(header)
        fh.write(b"".join(descs))
        for g in range(nb):
            fh.write(struct.pack(_BLOCK_HEADER_FMT, g, *time7))
            fh.write(interleaved[g * spb * n_ch : (g + 1) * spb * n_ch].tobytes())
    return path

"""Synthetic WESAD: Python-2-style ``S<n>/S<n>.pkl`` pickles with a 700 Hz protocol.

Layout and format follow the archive (``WESAD/S2/S2.pkl`` ...; S1 and S12 do not
exist, so subjects are S2, S3, ... skipping S12). Each pickle is written opcode by
opcode as Python 2's ``cPickle`` (protocol 2) would: every ``str`` (dict keys, the
subject id, the ndarray raw bytes) is a py2 byte string (``SHORT_BINSTRING`` /
``BINSTRING``) and arrays are rebuilt through ``numpy.core.multiarray._reconstruct``.
A plain ``pickle.load`` on Python 3 therefore fails with ``UnicodeDecodeError`` and
``pickle.load(f, encoding="latin1")`` works, exactly as with the real files.

Contents, as in the real file: ``{'signal': {'chest': {'ACC' (N,3), 'ECG' (N,1),
'EMG', 'EDA', 'Temp', 'Resp' (N,1)}, 'wrist': {'ACC' (M,3) 32 Hz, 'BVP' 64 Hz,
'EDA', 'TEMP' 4 Hz}}, 'label': (N,) int32, 'subject': 'S2'}``; chest signals and
labels at 700 Hz, all signals float64.

Protocol (one continuous recording per subject; every phase lasts ``phase_s``):
label-0 lead-in, baseline (1), two middle phases, meditation (4), then a short
5/6/7 tail, with label-0 transients (``0.1 * phase_s``) between phases. The middle
phases alternate between the two WESAD protocol versions: amusement (3) then
stress (2) for even subject indices, stress then amusement for odd ones (the real
study also places a meditation after each; we keep one to keep files small).

Label mapping onto the generator's 0-1 scale (per subject, each state's value is
jittered by N(0, 0.03) so that subjects differ; the TSST stressor and the meditation
sit at the two ends of the arousal scale, the strongest contrast of the protocol):

==============  =======  =======
state (code)    arousal  valence
==============  =======  =======
baseline (1)    0.30     0.50
stress (2)      0.95     0.20
amusement (3)   0.55     0.80
meditation (4)  0.05     0.60
0, 5, 6, 7      0.40     0.50
==============  =======  =======

Units: chest ECG and EMG in mV (the generator's unit, which is also WESAD's
RespiBAN unit after its documented conversion), ACC in g, EDA in µS, Temp in °C,
Resp in %; wrist ACC in the E4's 1/64 g, BVP arbitrary, EDA µS, TEMP °C. Each
subject also gets a small ``S<n>_readme.txt`` and ``S<n>_quest.csv`` side file.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.util.checks import check_int

__all__ = ["FS_CHEST", "py2_pickle_dumps", "subject_numbers", "write"]

FS_CHEST = 700  # RespiBAN rate of chest signals and labels, Hz
_FS_WRIST = {"ACC": 32, "BVP": 64, "EDA": 4, "TEMP": 4}
_STATE_AV = {1: (0.30, 0.50), 2: (0.95, 0.20), 3: (0.55, 0.80), 4: (0.05, 0.60)}
_NEUTRAL_AV = (0.40, 0.50)
_PHASE_NAMES = {1: "Base", 2: "TSST", 3: "Fun", 4: "Medi 1"}


# --------------------------------------------------------------------------------
# A hand-written Python-2 (protocol 2) pickler
# --------------------------------------------------------------------------------
def _py2_str(data: bytes) -> bytes:
    """Encode a py2 byte string (SHORT_BINSTRING or BINSTRING)."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    if len(data) >= 2**31:
        raise ValueError("a py2 string cannot exceed 2 GiB")
    return b"T" + struct.pack("<i", len(data)) + data


def _py2_int(value: int) -> bytes:
    """Encode an int as cPickle's protocol 2 does."""
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raise ValueError(f"integer {value} out of the supported range")


def _py2_tuple(items: list[bytes]) -> bytes:
    """Encode a tuple from already-encoded items."""
    if not items:
        return b")"
    if len(items) <= 3:
        return b"".join(items) + (b"\x85", b"\x86", b"\x87")[len(items) - 1]
    return b"(" + b"".join(items) + b"t"


def _py2_dtype(dtype: np.dtype) -> bytes:
    """Encode a numeric dtype as numpy's ``dtype.__reduce__`` under Python 2."""
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise TypeError(f"unsupported dtype {dtype}")
    order = "|" if dtype.itemsize == 1 else "<"
    state = _py2_tuple(
        [
            _py2_int(3),
            _py2_str(order.encode()),
            b"N",
            b"N",
            b"N",
            b"J" + struct.pack("<i", -1),
            b"J" + struct.pack("<i", -1),
            _py2_int(0),
        ]
    )
    args = _py2_tuple(
        [_py2_str(f"{dtype.kind}{dtype.itemsize}".encode()), _py2_int(0), _py2_int(1)]
    )
    return b"cnumpy\ndtype\n" + args + b"R" + state + b"b"


def _py2_ndarray(arr: np.ndarray) -> bytes:
    """Encode an ndarray as ``ndarray.__reduce__`` + BUILD under Python 2."""
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
    raw = np.ascontiguousarray(arr, dtype=dtype).tobytes(order="C")
    head = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + _py2_tuple([_py2_int(0)])
        + _py2_str(b"b")
        + b"\x87R"
    )
    state = _py2_tuple(
        [
            _py2_int(1),
            _py2_tuple([_py2_int(int(d)) for d in arr.shape]),
            _py2_dtype(dtype),
            b"\x89",  # NEWFALSE: C order
            _py2_str(raw),
        ]
    )
    return head + state + b"b"


def _py2_obj(obj: Any) -> bytes:
    """Encode one object (dict, list, tuple, str, bytes, int, float, None, array)."""
    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return _py2_int(obj)
    if isinstance(obj, float):
        return b"G" + struct.pack(">d", obj)
    if isinstance(obj, str):
        return _py2_str(obj.encode("latin1"))
    if isinstance(obj, bytes):
        return _py2_str(obj)
    if isinstance(obj, np.ndarray):
        return _py2_ndarray(obj)
    if isinstance(obj, dict):
        if not obj:
            return b"}"
        body = b"".join(_py2_obj(k) + _py2_obj(v) for k, v in obj.items())
        return b"}(" + body + b"u"
    if isinstance(obj, list):
        if not obj:
            return b"]"
        return b"](" + b"".join(_py2_obj(v) for v in obj) + b"e"
    if isinstance(obj, tuple):
        return _py2_tuple([_py2_obj(v) for v in obj])
    raise TypeError(f"obj: cannot encode {type(obj).__name__} as a py2 pickle")


def py2_pickle_dumps(obj: Any) -> bytes:
    """Serialise ``obj`` as Python 2's ``cPickle.dumps(obj, 2)`` would.

    Parameters
    ----------
    obj : dict | list | tuple | str | bytes | int | float | bool | None | np.ndarray
        Nested containers of these; ``str`` is written as a py2 byte string
        (latin-1), ndarrays (numeric, any shape) through
        ``numpy.core.multiarray._reconstruct`` with their raw bytes as a py2 string.

    Returns
    -------
    bytes
        The pickle (protocol 2, no memo).
    """
    return b"\x80\x02" + _py2_obj(obj) + b"."


# --------------------------------------------------------------------------------
# The dataset writer
# --------------------------------------------------------------------------------
def subject_numbers(n_subjects: int) -> list[int]:
    """Return WESAD's subject numbers 2, 3, ... skipping 12, ``n_subjects`` of them."""
    out: list[int] = []
    n = 2
    while len(out) < n_subjects:
        if n != 12:
            out.append(n)
        n += 1
    return out


def _segments(phase_s: float, version: int) -> list[tuple[int, int]]:
    """Return the protocol as (label code, n samples at 700 Hz) segments."""
    middle = (3, 2) if version == 0 else (2, 3)
    phase = int(round(phase_s * FS_CHEST))
    trans = max(1, int(round(0.1 * phase_s * FS_CHEST)))
    tail = max(1, int(round(0.05 * phase_s * FS_CHEST)))
    segs = [(0, trans)]
    for code in (1, *middle, 4):
        segs += [(code, phase), (0, trans)]
    segs += [(5, tail), (6, tail), (7, tail)]
    return segs


def _smooth_noise(
    rng: np.random.Generator, n: int, fs: float, tau_s: float
) -> np.ndarray:
    """Unit-scale slowly varying noise (random walk on a coarse grid, interpolated)."""
    n_grid = max(2, int(np.ceil(n / fs / tau_s)) + 1)
    grid = np.cumsum(rng.standard_normal(n_grid)) / np.sqrt(n_grid)
    return np.interp(np.arange(n) / fs, np.arange(n_grid) * tau_s, grid)


def _subject_blob(
    rng: np.random.Generator, number: int, version: int, phase_s: float
) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """Simulate one subject's pickle contents."""
    profile = draw_subject(rng)
    segs = _segments(phase_s, version)
    label = np.concatenate(
        [np.full(n, code, dtype=np.int32) for code, n in segs]
    ).astype(np.int32)
    n = label.size
    duration_s = n / FS_CHEST

    # per-state arousal/valence, jittered per subject; label codes 0/5/6/7 neutral
    av = {
        c: np.clip(np.add(v, rng.normal(0, 0.03, 2)), 0, 1)
        for c, v in _STATE_AV.items()
    }
    n_sec = int(np.ceil(duration_s))
    mid = np.minimum(((np.arange(n_sec) + 0.5) * FS_CHEST).astype(int), n - 1)
    sec_codes = label[mid]
    arousal = np.array([av.get(int(c), _NEUTRAL_AV)[0] for c in sec_codes])
    valence = np.array([av.get(int(c), _NEUTRAL_AV)[1] for c in sec_codes])

    ecg = simulate_ecg(
        profile,
        duration_s=duration_s,
        fs=FS_CHEST,
        arousal=arousal,
        valence=valence,
        rng=rng,
    )
    t = np.arange(n) / FS_CHEST
    a_t = np.interp(t, np.arange(n_sec) + 0.5, arousal)
    resp_hz = 0.2 + 0.15 * a_t
    resp_phase = 2 * np.pi * np.cumsum(resp_hz) / FS_CHEST
    chest = {
        "ACC": np.array([0.9, 0.05, -0.3]) + 0.01 * rng.standard_normal((n, 3)),
        "ECG": ecg.reshape(-1, 1),
        "EMG": (0.01 * rng.standard_normal(n)).reshape(-1, 1),
        "EDA": (
            rng.uniform(2.0, 8.0)
            + 1.5 * a_t
            + 0.2 * _smooth_noise(rng, n, FS_CHEST, 5.0)
        ).reshape(-1, 1),
        "Temp": (
            rng.uniform(32.5, 34.0) + 0.1 * _smooth_noise(rng, n, FS_CHEST, 30.0)
        ).reshape(-1, 1),
        "Resp": (rng.uniform(2.0, 5.0) * np.sin(resp_phase)).reshape(-1, 1),
    }
    wrist: dict[str, np.ndarray] = {}
    for key, fs_w in _FS_WRIST.items():
        m = int(round(duration_s * fs_w))
        tw = np.arange(m) / fs_w
        if key == "ACC":
            base = np.array([40.0, 10.0, 50.0])
            wrist[key] = np.round(base + 2.0 * rng.standard_normal((m, 3)))
        elif key == "BVP":
            hr_hz = profile.hr_bpm / 60.0
            wrist[key] = (50.0 * np.sin(2 * np.pi * hr_hz * tw)).reshape(-1, 1)
        elif key == "EDA":
            a_w = np.interp(tw, np.arange(n_sec) + 0.5, arousal)
            wrist[key] = (rng.uniform(0.5, 2.0) + 0.5 * a_w).reshape(-1, 1)
        else:
            temp = rng.uniform(31.0, 34.0) + 0.1 * _smooth_noise(rng, m, fs_w, 30.0)
            wrist[key] = temp.reshape(-1, 1)
    blob = {
        "signal": {"chest": chest, "wrist": wrist},
        "label": label,
        "subject": f"S{number}",
    }
    return blob, segs


def _quest_csv(number: int, segs: list[tuple[int, int]]) -> str:
    """Return a minimal ``S<n>_quest.csv`` (``;``-separated, minutes.seconds)."""
    order: list[str] = []
    start: list[str] = []
    end: list[str] = []
    pos = 0
    for code, n in segs:
        if code in _PHASE_NAMES:
            s0, s1 = pos / FS_CHEST, (pos + n) / FS_CHEST
            order.append(_PHASE_NAMES[code])
            start.append(f"{int(s0 // 60)}.{int(s0 % 60):02d}")
            end.append(f"{int(s1 // 60)}.{int(s1 % 60):02d}")
        pos += n
    pad = ";" * 2
    return (
        f"# Subj;S{number}{pad}\n"
        f"# ORDER;{';'.join(order)}{pad}\n"
        f"# START;{';'.join(start)}{pad}\n"
        f"# END;{';'.join(end)}{pad}\n"
    )


def _readme(number: int, rng: np.random.Generator) -> str:
    """Return a minimal ``S<n>_readme.txt`` in the archive's style."""
    return (
        "### Personal information ###\n"
        f"Age: {int(rng.integers(21, 36))}\n"
        f"Height (cm): {int(rng.integers(160, 195))}\n"
        f"Weight (kg): {int(rng.integers(55, 95))}\n"
        f"Gender: {rng.choice(['male', 'female'])}\n"
        "Dominant hand: right\n\n"
        "### Additional notes ###\n"
        f"Synthetic subject S{number} written by ecgssl.data.synthetic.wesad.\n"
    )


def write(
    out_dir: Path, *, seed: int, n_subjects: int = 3, phase_s: float = 120.0
) -> list[Path]:
    """Write a synthetic WESAD archive.

    Parameters
    ----------
    out_dir : Path
        Folder that plays the role of the extracted ``WESAD/`` folder; receives
        ``S<n>/S<n>.pkl``, ``S<n>/S<n>_quest.csv`` and ``S<n>/S<n>_readme.txt``.
    seed : int
        Base seed; subject ``k`` (0-based) uses ``default_rng([seed, k])``.
    n_subjects : int
        Number of subjects (S2, S3, ..., skipping S12).
    phase_s : float
        Length of each protocol phase in seconds; a recording lasts
        ``4.65 * phase_s`` s at 700 Hz.

    Returns
    -------
    list[Path]
        All files written, sorted.
    """
    check_int(n_subjects, "n_subjects", minimum=1)
    if not np.isfinite(phase_s) or phase_s * FS_CHEST < 10:
        raise ValueError(
            f"phase_s must be finite and >= {10 / FS_CHEST:.3f}, got {phase_s}"
        )
    out_dir = Path(out_dir)
    written: list[Path] = []
    for k, number in enumerate(subject_numbers(n_subjects)):
        rng = np.random.default_rng([seed, k])
        blob, segs = _subject_blob(rng, number, k % 2, phase_s)
        folder = out_dir / f"S{number}"
        folder.mkdir(parents=True, exist_ok=True)
        pkl = folder / f"S{number}.pkl"
        pkl.write_bytes(py2_pickle_dumps(blob))
        del blob
        quest = folder / f"S{number}_quest.csv"
        quest.write_text(_quest_csv(number, segs), encoding="ascii", newline="\n")
        readme = folder / f"S{number}_readme.txt"
        readme.write_text(_readme(number, rng), encoding="ascii", newline="\n")
        written += [pkl, quest, readme]
    return sorted(written)

"""Synthetic SWELL-KW: Poly5 ``.S00`` blocks and label tables in the DANS layout.

Layout (as in the DANS archive, doi:10.17026/dans-x55-69zp)::

    out_dir/
      0 - Raw data/D - Physiology - raw data/Mobi signals (raw and filtered)/
        pp1_18-9-2012_c1.S00  pp1_18-9-2012_c2.S00  pp1_18-9-2012_c3.S00 ...
      0 - Raw data/0 - Subjective experience - questionnaire data/
        Questionnaire Blok Results_final - performance added.xlsx  (one row per block)
      SWELL-KW - overview available data.xlsx   (Sheet1 summary, Sheet3 conditions)
      Behavioral-features - per minute.xlsx     (sheet SWELLdata, one row per minute)

Participant ``k`` (0-based) is ``pp{k+1}``, recorded on 18-9-2012 + k days, block
``c{B}`` starting at 9:00 + (B - 1) h. Each has blocks c1, c2, c3 with condition N in
c1 and T/I in c2/c3 in a per-participant order (T first for even ``k + seed``,
counterbalanced as in the study). Irregular names of the real archive appear when
``n_subjects`` allows: pp2's c2 is written with a hyphen before ``c``
(``pp2_19-9-2012-c2.S00``) and pp3's c2 is split into ``..._c2.S00`` (first 60 %)
and ``..._c2_cont.S00`` (the rest, whose header starts where the first part ends).

Conditions (``Sheet3``) are rows of participant, block, condition letter under a
header ``PP, Blok, Condition`` and above two footnote rows (``* no valid HR
extracted``, ``** uLog crashes after a while``); readers take them by position.
Every block starts with rest minutes: the first ``rest_fraction`` of each block is
rest (``Condition`` R in the per-minute table, with the physiology of the neutral
state), then the block's condition. Per-minute rows carry ``PP`` (``'PP1'``),
``Blok``, ``Condition``, ``timestamp`` (``%Y%m%dT%H%M%S%f``, minute starts; the rest
minutes end exactly ``rest_fraction * block_s`` seconds after the file's start, so
the first rest minute begins before it) and the block's self-reports repeated.

Files are Poly5 v2.04 (TMSi's identifier ``POLY SAMPLE FILE version 2.04``) at
``fs`` (2048 Hz in the real data) with 8 logical channels in UTF-8 ``µVolt`` and
identity calibration, in the order an inspection of the real files lists: 1-2 raw
ECG leads (the ECG with baseline wander and noise), 3-5 heart rate, beat-to-beat
heart rate and beat markers (not simulated: zeros), 6 the raw heart signal,
7 skin conductance (rising with arousal), 8 the preprocessed heart signal
("HeartPre": the ECG minus its 1-s moving average), which SWELL's own
``myDoReadData.m`` reads. The ECG comes from :mod:`ecgssl.data.synthetic.ecg` in mV
and is stored x1000 in µV.

Self-reports (SAM 1-9 integers) are drawn per block from the condition (means
arousal/valence: N 3.5/6.0, T 6.5/4.0, I 5.5/4.5) plus a per-participant offset
N(0, 0.7) and per-block noise N(0, 0.6), rounded and clipped to 1-9. The ECG state
of a block's work minutes is derived from them: ``arousal01 = (Arousal_rc - 1) / 8``
and ``valence01 = (Valence_rc - 1) / 8``. All blocks last ``block_s`` seconds, so
durations and file order carry no label information.

Workbooks are written with pandas + openpyxl and made byte-deterministic: document
properties created/modified are fixed to 2012-09-18T00:00:00Z and every zip entry
gets the same fixed timestamp.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ecgssl.data.readers.poly5 import write_poly5
from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.util.checks import check_int, check_number

__all__ = [
    "CHANNEL_NAMES",
    "OVERVIEW_NAME",
    "PER_MINUTE_NAME",
    "PHYSIOLOGY_DIR",
    "QUESTIONNAIRE_PATH",
    "write",
    "write_xlsx",
]

PHYSIOLOGY_DIR = Path(
    "0 - Raw data", "D - Physiology - raw data", "Mobi signals (raw and filtered)"
)
OVERVIEW_NAME = "SWELL-KW - overview available data.xlsx"
PER_MINUTE_NAME = "Behavioral-features - per minute.xlsx"
QUESTIONNAIRE_PATH = Path(
    "0 - Raw data",
    "0 - Subjective experience - questionnaire data",
    "Questionnaire Blok Results_final - performance added.xlsx",
)
CHANNEL_NAMES = (
    "ECG lead 1",
    "ECG lead 2",
    "Heart rate",
    "Beat-to-beat heart rate",
    "Beat markers",
    "Heart",
    "Skin conductance",
    "HeartPre",
)
_LEAD_INDEX = (0, 1)
_RAW_HEART_INDEX = 5  # 0-based: logical channel 6
_EDA_INDEX = 6  # 0-based: logical channel 7
_ECG_INDEX = 7  # 0-based: logical channel 8 ("HeartPre")
_FOOTNOTES = ("* no valid HR extracted", "** uLog crashes after a while")
_FIXED_TIME = datetime(2012, 9, 18, 0, 0, 0)
_FIRST_DAY = date(2012, 9, 18)
_SAM_MEANS = {"N": (3.5, 6.0), "T": (6.5, 4.0), "I": (5.5, 4.5)}  # arousal, valence


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    """Write DataFrames as sheets of a byte-deterministic ``.xlsx`` workbook.

    Parameters
    ----------
    path : Path
        Output workbook.
    sheets : dict[str, pandas.DataFrame]
        Sheet name -> table (written without the index).

    Returns
    -------
    Path
        ``path``. Document properties created/modified and all zip entry
        timestamps are fixed, so equal tables give byte-identical files.
    """
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
        props = writer.book.properties
        props.created = _FIXED_TIME
        props.modified = _FIXED_TIME
        props.creator = "ecgssl"
        props.lastModifiedBy = "ecgssl"
    stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps 'modified' with the save time; pin it
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    data,
                )
            entry = zipfile.ZipInfo(
                info.filename, date_time=_FIXED_TIME.timetuple()[:6]
            )
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zout.writestr(entry, data)
    path = Path(path)
    path.write_bytes(out.getvalue())
    return path


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average of length ``n`` (edges use the available samples)."""
    n = max(1, min(n, x.size))
    c = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.clip(np.arange(x.size) - n // 2, 0, x.size)
    hi = np.clip(np.arange(x.size) + (n - n // 2), 0, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


def _self_report(
    rng: np.random.Generator, condition: str, offset: np.ndarray
) -> dict[str, int | float]:
    """Draw one block's self-report row (SAM 1-9 plus workload scales)."""
    mean = np.asarray(_SAM_MEANS[condition]) + offset
    arousal, valence = np.clip(np.round(mean + rng.normal(0, 0.6, 2)), 1, 9).astype(int)
    load = {"N": 0.3, "I": 0.6, "T": 0.8}[condition] + rng.normal(0, 0.1)
    tlx = np.clip(np.round(21 * load + rng.normal(0, 2, 6)), 1, 21).astype(int)
    return {
        "Valence_rc": int(valence),
        "Arousal_rc": int(arousal),
        "Dominance": int(np.clip(np.round(rng.normal(5.5, 1.2)), 1, 9)),
        "Stress": int(np.clip(np.round(1 + 9 * load + rng.normal(0, 1)), 1, 10)),
        "MentalEffort": int(np.clip(np.round(150 * load + rng.normal(0, 10)), 0, 150)),
        "MentalDemand": int(tlx[0]),
        "PhysicalDemand": int(tlx[1]),
        "TemporalDemand": int(tlx[2]),
        "Effort": int(tlx[3]),
        "Performance_rc": int(tlx[4]),
        "Frustration": int(tlx[5]),
        "NasaTLX": float(np.round(tlx.mean(), 2)),
    }


def _channels(
    rng: np.random.Generator, ecg_mv: np.ndarray, arousal01: float, fs: int, eda0: float
) -> np.ndarray:
    """Build the 8 logical channels (µV, float64) of one block."""
    n = ecg_mv.size
    out = np.zeros((len(CHANNEL_NAMES), n))
    ecg_uv = 1000.0 * ecg_mv
    t = np.arange(n) / fs
    wander = 150.0 * np.sin(2 * np.pi * 0.15 * t + rng.uniform(0, 2 * np.pi))
    for i, gain in zip(_LEAD_INDEX, (1.0, 0.8), strict=True):
        out[i] = gain * ecg_uv + wander + 5.0 * rng.standard_normal(n)
    out[_RAW_HEART_INDEX] = ecg_uv + wander
    drift = np.cumsum(rng.standard_normal(n)) * (0.5 / np.sqrt(max(n, 1)))
    out[_EDA_INDEX] = eda0 + 1.5 * arousal01 + drift + 0.02 * rng.standard_normal(n)
    out[_ECG_INDEX] = ecg_uv - _moving_average(ecg_uv, fs)
    return out


def _stamp(when: datetime) -> str:
    """A per-minute ``timestamp`` (``%Y%m%dT%H%M%S%f``, milliseconds)."""
    return when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}"


def _minutes(
    start: datetime, block_s: float, rest_s: float
) -> list[tuple[datetime, bool]]:
    """Minute starts of one block and whether each is rest (R).

    The rest minutes end ``rest_s`` after ``start``; work minutes follow until the
    block ends. With ``rest_s > 0`` the first rest minute begins before ``start``.
    """
    rows: list[tuple[datetime, bool]] = []
    k = math.ceil(rest_s / 60.0)
    for i in range(k, 0, -1):
        rows.append((start + timedelta(seconds=rest_s - 60.0 * i), True))
    j = 0
    while rest_s + 60.0 * j < block_s:
        rows.append((start + timedelta(seconds=rest_s + 60.0 * j), False))
        j += 1
    return rows


def write(
    out_dir: Path,
    *,
    seed: int,
    n_subjects: int = 3,
    block_s: float = 180.0,
    fs: int = 2048,
    rest_fraction: float = 0.15,
) -> list[Path]:
    """Write a synthetic SWELL-KW archive.

    Parameters
    ----------
    out_dir : Path
        Root of the archive (created if needed).
    seed : int
        Base seed; participant ``k`` (0-based) uses ``default_rng([seed, k])``.
    n_subjects : int
        Number of participants pp1, pp2, ...
    block_s : float
        Duration of each block c1, c2, c3 in seconds.
    fs : int
        Sampling rate in Hz written to the Poly5 header (2048 in SWELL; lower values,
        down to the ECG generator's minimum of 50 Hz, keep tests fast).
    rest_fraction : float
        Share of each block, at its start, that is rest minutes (about 8 of 40-55
        minutes in the real data); 0 for none.

    Returns
    -------
    list[Path]
        The ``.S00`` files and the three workbooks, sorted.
    """
    check_int(n_subjects, "n_subjects", minimum=1)
    check_int(fs, "fs", minimum=1, maximum=2**15 - 1)
    check_number(rest_fraction, "rest_fraction", minimum=0, maximum=1,
                 exclusive_maximum=True)  # fmt: skip
    if not np.isfinite(block_s) or block_s * fs < 10:
        raise ValueError(
            f"block_s must be finite and give >= 10 samples, got {block_s}"
        )
    out_dir = Path(out_dir)
    phys = out_dir / PHYSIOLOGY_DIR
    phys.mkdir(parents=True, exist_ok=True)
    rest_s = round(rest_fraction * block_s, 3)
    n_seconds = max(1, math.ceil(block_s))
    rest_state = [(m - 1) / 8 for m in _SAM_MEANS["N"]]  # the neutral state
    written: list[Path] = []
    overview_rows: list[dict[str, object]] = []
    summary_rows: list[dict[str, object]] = []
    report_rows: list[dict[str, object]] = []
    minute_rows: list[dict[str, object]] = []
    for k in range(n_subjects):
        rng = np.random.default_rng([seed, k])
        number = k + 1
        day = _FIRST_DAY + timedelta(days=k)
        stem = f"pp{number}_{day.day}-{day.month}-{day.year}"
        order = ("T", "I") if (k + seed) % 2 == 0 else ("I", "T")  # counterbalanced
        conditions = {1: "N", 2: order[0], 3: order[1]}
        profile = draw_subject(rng)
        offset = rng.normal(0, 0.7, 2)
        eda0 = float(rng.uniform(2.0, 8.0))
        first = datetime(day.year, day.month, day.day, 9, 0, 0)
        for block, condition in conditions.items():
            start = first + timedelta(hours=block - 1)
            report = _self_report(rng, condition, offset)
            report_rows.append({"PP": f"PP{number}", "Blok": block, **report})
            overview_rows.append({"PP": number, "Blok": block, "Condition": condition})
            for when, rest in _minutes(start, block_s, rest_s):
                minute_rows.append(
                    {
                        "PP": f"PP{number}",
                        "Blok": block,
                        "Condition": "R" if rest else condition,
                        "timestamp": _stamp(when),
                        **report,
                    }
                )
            arousal01 = (report["Arousal_rc"] - 1) / 8
            valence01 = (report["Valence_rc"] - 1) / 8
            # one state value per second: the neutral state in the rest minutes
            in_rest = np.arange(n_seconds) + 0.5 < rest_s
            ecg = simulate_ecg(
                profile,
                duration_s=block_s,
                fs=fs,
                arousal=np.where(in_rest, rest_state[0], arousal01),
                valence=np.where(in_rest, rest_state[1], valence01),
                rng=rng,
            )
            signals = _channels(rng, ecg, arousal01, fs, eda0)
            sep = "-" if (k == 1 and block == 2) else "_"
            parts = [(f"{stem}{sep}c{block}.S00", signals, start)]
            if k == 2 and block == 2:
                cut = int(0.6 * signals.shape[1])
                # the continuation's header starts where the first part ends (the
                # header holds whole seconds)
                resumed = start + timedelta(seconds=int(cut / fs))
                parts = [
                    (f"{stem}_c{block}.S00", signals[:, :cut], start),
                    (f"{stem}_c{block}_cont.S00", signals[:, cut:], resumed),
                ]
            for name, data, begins in parts:
                written.append(
                    write_poly5(
                        phys / name,
                        data,
                        fs=fs,
                        names=CHANNEL_NAMES,
                        units=("µVolt",) * len(CHANNEL_NAMES),
                        version=204,
                        start_time=begins,
                        measurement=name.removesuffix(".S00"),
                        encoding="utf-8",
                    )
                )
        summary_rows.append(
            {"PP": number, "date": f"{day.day}-{day.month}-{day.year}", "blocks": 3}
        )
    footnotes = pd.DataFrame({"PP": ["", *_FOOTNOTES]})
    written.append(
        write_xlsx(
            out_dir / OVERVIEW_NAME,
            {
                "Sheet1": pd.DataFrame(summary_rows),
                "Sheet3": pd.concat(
                    [pd.DataFrame(overview_rows), footnotes], ignore_index=True
                ),
            },
        )
    )
    questionnaire = out_dir / QUESTIONNAIRE_PATH
    questionnaire.parent.mkdir(parents=True, exist_ok=True)
    written.append(write_xlsx(questionnaire, {"Sheet1": pd.DataFrame(report_rows)}))
    written.append(
        write_xlsx(out_dir / PER_MINUTE_NAME, {"SWELLdata": pd.DataFrame(minute_rows)})
    )
    return sorted(written)

"""SWELL-KW as the real download may come, built without our synthetic writer.

Poly5 files are written byte by byte (``tests/_poly5fixtures.py``), the overview
table with openpyxl or as tab-separated text, the self-report and per-minute
workbooks with plain pandas, so that none of the synthetic writer's assumptions
leak into what the reader is checked against. Labels are checked on the windows
of a built window store.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import _poly5fixtures
import numpy as np
import openpyxl
import pandas as pd
import pytest

from ecgssl.data.preprocess import PreprocessConfig, build_window_store
from ecgssl.data.readers.swell import SwellReader
from ecgssl.data.store import check_label_present, read_metadata, read_windows
from ecgssl.util.errors import LabelError

FS = 256
BLOCK_S = 100.0  # ten 10-s windows per block
REST_S = 25.0  # the rest minutes end 25 s into each file: windows 0-2 touch them
PHYS = Path(
    "0 - Raw data", "D - Physiology - raw data", "Mobi signals (raw and filtered)"
)
# (participant, block) -> condition, arousal, valence
BLOCKS = {
    (1, 1): ("N", 3.0, 6.0),
    (1, 2): ("I", 6.0, 4.0),
    (1, 3): ("T", 7.0, 3.0),
    (2, 1): ("N", 2.0, 7.0),
    (2, 2): ("T", 8.0, 2.0),
    (2, 3): ("I", 5.0, 5.0),
}
CODES = {"N": 0.0, "T": 1.0, "I": 2.0}


def _start(pp: int, block: int) -> datetime:
    return datetime(2012, 9, 17 + pp, 8 + block, 30, 0)


def _ecg(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    beats = np.exp(-0.5 * ((t % 0.8 - 0.4) / 0.01) ** 2)
    return 800.0 * beats + 20.0 * rng.standard_normal(t.size)


def _signals(pp: int, block: int) -> np.ndarray:
    """8 logical channels; channel 8 the ECG, the others different."""
    ecg = _ecg(BLOCK_S, 10 * pp + block)
    out = np.zeros((8, ecg.size))
    out[0], out[1], out[5] = 1.1 * ecg, 0.9 * ecg, ecg + 300.0
    out[6] = 5.0
    out[7] = ecg
    return out


def _write_s00(root: Path, *, version: int = 204) -> None:
    for pp, block in BLOCKS:
        name = f"pp{pp}_{_start(pp, block):%-d-%-m-%Y}_c{block}.S00"
        _poly5fixtures.handmade_poly5(
            root / PHYS / name,
            _signals(pp, block),
            version=version,
            fs=FS,
            start=_start(pp, block),
            samples_per_block=FS,
        )


def _overview_rows(header: list[str] | None, pp_text: bool = False) -> list[list]:
    rows: list[list] = [header] if header else []
    for (pp, block), (cond, _, _) in BLOCKS.items():
        rows.append([f"pp{pp}" if pp_text else pp, block, cond])
    rows += [[None, None, None], ["* no valid HR extracted", None, None]]
    rows += [["** uLog crashes after a while", None, None]]
    return rows


def _write_overview_xlsx(root: Path, rows: list[list], sheet: str = "Sheet3") -> Path:
    wb = openpyxl.Workbook()
    summary = wb.active
    summary.title = "Sheet1"
    summary.append(["participant", "blocks", "remarks"])  # not the condition table
    summary.append([1, 3, "fine"])
    table = wb.create_sheet(sheet)
    for row in rows:
        table.append(row)
    path = root / "SWELL-KW - overview available data.xlsx"
    wb.save(path)
    return path


def _write_overview_tab(root: Path) -> Path:
    lines = ['"PP"\t"Blok"\t"Condition"']
    for (pp, block), (cond, _, _) in BLOCKS.items():
        lines.append(f'{pp}\t{block}\t"{cond}"')
    lines.append('"* no valid HR extracted"\t\t')
    path = root / "SWELL-KW - overview available data.tab"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_questionnaire(root: Path) -> Path:
    rows = [
        {"PP": f"PP{pp}", "Blok": block, "Valence_rc": v, "Arousal_rc": a}
        for (pp, block), (_, a, v) in BLOCKS.items()
    ]
    path = root / "0 - Raw data" / "0 - Subjective experience - questionnaire data"
    path.mkdir(parents=True, exist_ok=True)
    path = path / "Questionnaire Blok Results_final - performance added.xlsx"
    pd.DataFrame(rows).to_excel(path, index=False)
    return path


def _write_per_minute(root: Path, *, offset_s: float = 0.0) -> Path:
    """Per-minute rows: one R minute ending REST_S into each file, then work."""
    rows = []
    for (pp, block), (cond, a, v) in BLOCKS.items():
        begin = _start(pp, block) + timedelta(seconds=REST_S - 60.0 + offset_s)
        for m in range(3):
            when = begin + timedelta(minutes=m)
            rows.append(
                {
                    "PP": f"PP{pp}",
                    "Blok": block,
                    "Condition": "R" if m == 0 else cond,
                    "timestamp": when.strftime("%Y%m%dT%H%M%S") + "000",
                    "Valence_rc": v + (0.5 if m == 2 else 0.0),  # median: v + 0
                    "Arousal_rc": a,
                    "HR": 70.0 + m,
                }
            )
    path = root / "Behavioral-features - per minute.xlsx"
    pd.DataFrame(rows).to_excel(path, sheet_name="SWELLdata", index=False)
    return path


def _archive(root: Path, *, overview: str | None = "xlsx", minutes: bool = True,
             questionnaire: bool = True, version: int = 204) -> Path:  # fmt: skip
    _write_s00(root, version=version)
    if overview == "xlsx":
        _write_overview_xlsx(root, _overview_rows(["PP", "Blok", "Condition"]))
    elif overview == "tab":
        _write_overview_tab(root)
    if questionnaire:
        _write_questionnaire(root)
    if minutes:
        _write_per_minute(root)
    return root


def _windows(root: Path, **options: object) -> pd.DataFrame:
    store = root.parent / f"{root.name}.parquet"
    build_window_store(
        SwellReader(root, **options),  # type: ignore[arg-type]
        root=root,
        store_path=store,
        qc_path=root.parent / f"{root.name}.tsv",
        config=PreprocessConfig(),
    )
    return read_windows(store)


def _expected_stress(df: pd.DataFrame, *, rest: bool = True) -> list:
    out = []
    for subject, trial, start in zip(df.subject, df.trial, df.start_s, strict=True):
        cond = BLOCKS[(int(subject[2:]), int(trial[1]))][0]
        out.append(None if rest and start < REST_S else CODES[cond])
    return out


def _values(series: pd.Series) -> list:
    return [None if pd.isna(v) else float(v) for v in series]


# ---------------------------------------------------------------- the variants
@pytest.mark.parametrize("version", [204, 203])
def test_poly5_of_both_versions_and_labels_on_the_right_windows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, version: int
):
    root = _archive(tmp_path / "swell", version=version)
    with caplog.at_level(logging.WARNING):
        df = _windows(root)
    assert caplog.text == ""  # µVolt, footnotes, TMSi's v2.04 text: all normal
    assert len(df) == 6 * 10
    assert _values(df.stress) == _expected_stress(df)
    for (pp, block), (_, a, v) in BLOCKS.items():
        rows = df[(df.subject == f"pp{pp:02d}") & (df.trial == f"c{block}")]
        assert (rows.arousal == a).all()  # self-reports cover the whole block
        assert (rows.valence == v).all()


def test_rest_minutes_are_counted_in_qc_and_metadata(tmp_path: Path):
    root = _archive(tmp_path / "swell")
    _windows(root)
    qc = pd.read_csv(tmp_path / "swell.tsv", sep="\t")
    assert qc.n_rest.tolist() == [3] * 6
    labels = read_metadata(tmp_path / "swell.parquet")["labels"]
    assert labels["stress"]["labelled_windows"] == 6 * 7
    assert labels["stress"]["withheld_windows"]["rest"] == 6 * 3
    assert labels["arousal"]["withheld_windows"]["rest"] == 0


def test_stress_in_rest_minutes_keeps_the_released_behaviour(tmp_path: Path):
    df = _windows(_archive(tmp_path / "swell"), stress_in_rest_minutes=True)
    assert _values(df.stress) == _expected_stress(df, rest=False)


@pytest.mark.parametrize(
    "layout",
    ["header_PP_Blok_Condition", "no_header", "other_header", "title_and_text_cells"],
)
def test_overview_xlsx_read_by_position(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, layout: str
):
    root = _archive(tmp_path / "swell", overview=None)
    rows = {
        "header_PP_Blok_Condition": _overview_rows(["PP", "Blok", "Condition"]),
        "no_header": _overview_rows(None),
        "other_header": _overview_rows(["Nr", "Sessie", "Type"]),
        "title_and_text_cells": [["Overview of the conditions", None, None]]
        + _overview_rows(["Participant", "Block", "Condition"], pp_text=True),
    }[layout]
    _write_overview_xlsx(root, rows)
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.swell"):
        df = _windows(root)
    assert _values(df.stress) == _expected_stress(df)
    # an unknown header is checked and reported, not trusted nor fatal
    assert ("does not read as participant" in caplog.text) == (layout == "other_header")


def test_overview_as_tab_file(tmp_path: Path):
    root = _archive(tmp_path / "swell", overview="tab")
    df = _windows(root)
    assert _values(df.stress) == _expected_stress(df)
    assert root / "SWELL-KW - overview available data.tab" in SwellReader(root).files()


def test_overview_without_sheet3_uses_the_sheet_that_reads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    root = _archive(tmp_path / "swell", overview=None)
    _write_overview_xlsx(root, _overview_rows(["PP", "Blok", "Condition"]), "Blad3")
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.swell"):
        df = _windows(root)
    assert "no readable sheet Sheet3; conditions from sheet Blad3" in caplog.text
    assert _values(df.stress) == _expected_stress(df)


@pytest.mark.parametrize("kind", ["absent", "unreadable_rows"])
def test_no_condition_table_fails_the_stress_label(tmp_path: Path, kind: str):
    root = _archive(tmp_path / "swell", overview=None)
    if kind == "unreadable_rows":  # a header, but block numbers as words
        _write_overview_xlsx(root, [["PP", "Blok", "Condition"], [1, "one", "N"]])
    df = _windows(root)
    assert df.stress.isna().all()
    assert df.arousal.notna().all()  # the store is still built, other labels kept
    store = tmp_path / "swell.parquet"
    with pytest.raises(LabelError) as info:
        check_label_present(store, "stress")
    message = str(info.value)
    assert message.startswith("swell: label 'stress' has no labelled window: ")
    assert "no condition table found" in message
    if kind == "unreadable_rows":
        assert "no (participant, block, condition) row in" in message
    check_label_present(store, "arousal")


def test_all_windows_in_rest_minutes_fails_the_stress_label(tmp_path: Path):
    root = _archive(tmp_path / "swell", minutes=False)
    _write_per_minute(root, offset_s=BLOCK_S)  # rest now covers each whole file
    df = _windows(root)
    assert df.stress.isna().all()
    with pytest.raises(LabelError, match="all 60 windows in rest minutes"):
        check_label_present(tmp_path / "swell.parquet", "stress")


def test_self_reports_from_the_per_minute_workbook(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    root = _archive(tmp_path / "swell", questionnaire=False)
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.swell"):
        df = _windows(root)
    assert "no per-block questionnaire workbook" in caplog.text
    assert "Behavioral-features - per minute.xlsx [SWELLdata]" in caplog.text
    for (pp, block), (_, a, v) in BLOCKS.items():
        rows = df[(df.subject == f"pp{pp:02d}") & (df.trial == f"c{block}")]
        assert (rows.arousal == a).all()
        assert (rows.valence == v).all()  # the median over the block's minutes
    assert _values(df.stress) == _expected_stress(df)


def test_questionnaire_wins_over_the_per_minute_workbook(tmp_path: Path):
    root = _archive(tmp_path / "swell")
    rows = pd.read_excel(root / "Behavioral-features - per minute.xlsx")
    rows["Arousal_rc"] = 1.0  # would differ from the questionnaire
    rows.to_excel(
        root / "Behavioral-features - per minute.xlsx",
        sheet_name="SWELLdata",
        index=False,
    )
    df = _windows(root)
    assert (df.arousal > 1.0).all()


@pytest.mark.parametrize("why", ["no_per_minute_table", "no_start_time", "no_overlap"])
def test_rest_minutes_that_cannot_be_placed_keep_the_condition_and_warn_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, why: str
):
    root = _archive(tmp_path / "swell", minutes=why != "no_per_minute_table")
    if why == "no_start_time":  # an invalid date in every header
        for path in (root / PHYS).iterdir():
            data = bytearray(path.read_bytes())
            data[132:134] = (13).to_bytes(2, "little")  # month 13 (v2.04 offsets)
            path.write_bytes(bytes(data))
    if why == "no_overlap":  # the per-minute clock an hour off
        _write_per_minute(root, offset_s=3600.0)
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.swell"):
        df = _windows(root)
    assert _values(df.stress) == _expected_stress(df, rest=False)
    warnings = [r for r in caplog.records if "cannot place the rest" in r.message]
    assert len(warnings) == 1
    assert "(warned once)" in warnings[0].message


def test_overview_disagreeing_with_per_minute_conditions_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    root = _archive(tmp_path / "swell", overview=None)
    rows = _overview_rows(["PP", "Blok", "Condition"])
    rows[2][2] = "T"  # pp1 block 2 is I in the per-minute rows
    _write_overview_xlsx(root, rows)
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.swell"):
        list(SwellReader(root).recordings())
    assert "differs from the per-minute Condition of 1 blocks (pp1 block 2)" in (
        caplog.text
    )

"""Tests for the synthetic SWELL-KW writer and the SWELL-KW reader."""

from __future__ import annotations

import logging
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from ecgssl.data.readers.poly5 import read_poly5, write_poly5
from ecgssl.data.readers.swell import STRESS_CODES, SwellReader, parse_swell_name
from ecgssl.data.synthetic import swell as synth
from ecgssl.util.errors import DataFormatError

FS = 128
BLOCK_S = 10.0
PHYS = synth.PHYSIOLOGY_DIR
OVERVIEW = synth.OVERVIEW_NAME
REPORTS = synth.QUESTIONNAIRE_PATH
MINUTES = synth.PER_MINUTE_NAME


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("swell") / "SWELL-KW"
    synth.write(out, seed=5, n_subjects=3, block_s=BLOCK_S, fs=FS)
    return out


@pytest.fixture
def copy(archive: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "SWELL-KW"
    shutil.copytree(archive, dst)
    return dst


def _by_key(root: Path) -> dict:
    return {(r.subject, r.trial): r for r in SwellReader(root).recordings()}


# ------------------------------------------------------------------- file names
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pp1_18-9-2012_c1.S00", (1, 1, False)),
        ("pp11_9-10-2012_c3.S00", (11, 3, False)),
        ("pp10_8-10-2012-c2.S00", (10, 2, False)),
        ("pp23_1-11-2012_c2_cont.S00", (23, 2, True)),
        ("PP5_1-1-2012_C3.s00", (5, 3, False)),
        ("notes.S00", None),
        ("pp4_readme.S00", None),
    ],
)
def test_parse_swell_name(name: str, expected):
    assert parse_swell_name(name) == expected


# ----------------------------------------------------------------------- writer
# ----------------------------------------------------------------------- writer
def test_writer_layout(archive: Path):
    names = sorted(p.name for p in (archive / PHYS).iterdir())
    assert names == sorted(
        [
            "pp1_18-9-2012_c1.S00",
            "pp1_18-9-2012_c2.S00",
            "pp1_18-9-2012_c3.S00",
            "pp2_19-9-2012_c1.S00",
            "pp2_19-9-2012-c2.S00",
            "pp2_19-9-2012_c3.S00",
            "pp3_20-9-2012_c1.S00",
            "pp3_20-9-2012_c2.S00",
            "pp3_20-9-2012_c2_cont.S00",
            "pp3_20-9-2012_c3.S00",
        ]
    )
    assert (archive / OVERVIEW).is_file()
    assert (archive / REPORTS).is_file()
    assert (archive / MINUTES).is_file()
    assert pd.ExcelFile(archive / OVERVIEW).sheet_names == ["Sheet1", "Sheet3"]
    assert pd.ExcelFile(archive / MINUTES).sheet_names == ["SWELLdata"]


def test_poly5_files_follow_the_swell_format(archive: Path):
    path = archive / PHYS / "pp1_18-9-2012_c1.S00"
    assert path.read_bytes()[:32] == b"POLY SAMPLE FILE version 2.04\r\n\x1a"
    rec = read_poly5(path)
    assert rec.version == 204
    assert rec.fs == FS
    assert rec.signals.shape == (8, int(BLOCK_S * FS))
    assert set(rec.units) == {"µVolt"}
    assert b"\xc2\xb5Volt" in path.read_bytes()  # UTF-8, as in the real files
    assert rec.names[7] == "HeartPre"
    assert rec.names[6] == "Skin conductance"
    # ECG in µV: a peak-to-peak of hundreds to thousands of µV, not ~1 mV
    assert 200 < np.ptp(rec.signals[7]) < 20000
    assert not rec.signals[2:5].any()  # heart rate channels are not simulated
    # channel 6 (raw heart) is channel 8 plus slow baseline wander: the same signal
    # above 0.5 Hz, and a difference with no power there
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, 0.5, "highpass", fs=FS, output="sos")
    raw, ecg = sosfiltfilt(sos, rec.signals[5]), sosfiltfilt(sos, rec.signals[7])
    assert np.corrcoef(raw, ecg)[0, 1] > 0.99
    assert np.std(rec.signals[5] - rec.signals[7]) > 10 * np.std(raw - ecg)
    assert rec.start_time == datetime(2012, 9, 18, 9, 0, 0)


def test_continuation_file_starts_where_the_first_part_ends(archive: Path):
    first = read_poly5(archive / PHYS / "pp3_20-9-2012_c2.S00")
    cont = read_poly5(archive / PHYS / "pp3_20-9-2012_c2_cont.S00")
    seconds = int(first.signals.shape[1] / FS)
    assert cont.start_time == first.start_time + timedelta(seconds=seconds)


def test_conditions_and_self_reports(archive: Path):
    raw = pd.read_excel(archive / OVERVIEW, sheet_name="Sheet3", header=None)
    assert raw.iloc[0].tolist() == ["PP", "Blok", "Condition"]
    assert raw.iloc[-1, 0] == "** uLog crashes after a while"  # footnotes
    overview = raw.iloc[1:10].set_axis(["PP", "block", "condition"], axis=1)
    cond = {(int(r.PP), int(r.block)): r.condition for r in overview.itertuples()}
    assert all(cond[(p, 1)] == "N" for p in (1, 2, 3))
    for p in (1, 2, 3):
        assert {cond[(p, 2)], cond[(p, 3)]} == {"T", "I"}
    assert len({cond[(p, 2)] for p in (1, 2, 3)}) == 2  # the order varies
    reports = pd.read_excel(archive / REPORTS)
    for col in (
        "PP",
        "Blok",
        "Valence_rc",
        "Arousal_rc",
        "Dominance",
        "Stress",
        "MentalEffort",
        "NasaTLX",
    ):
        assert col in reports.columns
    assert reports["PP"].tolist()[:3] == ["PP1", "PP1", "PP1"]
    assert reports[["Valence_rc", "Arousal_rc"]].isin(range(1, 10)).all().all()
    assert (reports.groupby("PP")["Arousal_rc"].nunique() > 1).any()


def test_per_minute_rows_start_each_block_with_rest(tmp_path: Path):
    synth.write(tmp_path, seed=2, n_subjects=1, block_s=200.0, fs=64)
    rows = pd.read_excel(tmp_path / MINUTES, sheet_name="SWELLdata")
    block = rows[rows.Blok == 2]
    stamps = [datetime.strptime(t, "%Y%m%dT%H%M%S%f") for t in block.timestamp]
    start = datetime(2012, 9, 18, 10, 0, 0)  # block 2 of pp1
    # 15 % of 200 s = 30 s of rest: one R minute from 30 s before the file's start
    assert block.Condition.tolist()[0] == "R"
    assert set(block.Condition.tolist()[1:]) == {"T"} or set(
        block.Condition.tolist()[1:]
    ) == {"I"}
    assert stamps[0] == start - timedelta(seconds=30)
    assert stamps[1] == start + timedelta(seconds=30)
    assert np.diff(stamps).tolist() == [timedelta(minutes=1)] * (len(stamps) - 1)
    reports = pd.read_excel(tmp_path / REPORTS).set_index("Blok")
    assert (block.Arousal_rc == reports.loc[2, "Arousal_rc"]).all()


def test_self_reports_follow_condition_across_seeds(tmp_path: Path):
    # stress blocks: higher arousal and lower valence than the neutral block
    synth.write(tmp_path, seed=1, n_subjects=8, block_s=1.0, fs=64)
    reports = pd.read_excel(tmp_path / REPORTS)
    overview = pd.read_excel(tmp_path / OVERVIEW, sheet_name="Sheet3").dropna()
    overview = overview[overview.Blok.notna()].astype({"PP": int, "Blok": int})
    merged = reports.assign(PP=reports["PP"].str[2:].astype(int)).merge(
        overview, on=["PP", "Blok"]
    )
    means = merged.groupby("Condition")[["Arousal_rc", "Valence_rc"]].mean()
    assert means.loc["T", "Arousal_rc"] > means.loc["N", "Arousal_rc"]
    assert means.loc["T", "Valence_rc"] < means.loc["N", "Valence_rc"]


def test_writer_is_deterministic(archive: Path, tmp_path: Path):
    again = synth.write(tmp_path, seed=5, n_subjects=3, block_s=BLOCK_S, fs=FS)
    assert len(again) == 13
    for path in again:
        assert path.read_bytes() == (archive / path.relative_to(tmp_path)).read_bytes()


def test_xlsx_has_fixed_timestamps(archive: Path):
    with zipfile.ZipFile(archive / REPORTS) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2012, 9, 18, 0, 0, 0)}
        core = zf.read("docProps/core.xml").decode()
    assert "2012-09-18T00:00:00Z</dcterms:created>" in core
    assert "2012-09-18T00:00:00Z</dcterms:modified>" in core


def test_writer_validates_arguments(tmp_path: Path):
    with pytest.raises(ValueError, match="n_subjects"):
        synth.write(tmp_path, seed=0, n_subjects=0)
    with pytest.raises(TypeError, match="fs must be an int"):
        synth.write(tmp_path, seed=0, n_subjects=1, fs=2048.5)
    with pytest.raises(ValueError, match="fs must be <= 32767"):
        synth.write(tmp_path, seed=0, n_subjects=1, fs=2**15)
    with pytest.raises(ValueError, match="rest_fraction"):
        synth.write(tmp_path, seed=0, n_subjects=1, rest_fraction=1.0)


# ------------------------------------------------------- reader on the synthetic copy
def test_round_trip(archive: Path, caplog: pytest.LogCaptureFixture):
    reader = SwellReader(archive)
    files = reader.files()
    assert len(files) == 13
    assert {archive / OVERVIEW, archive / REPORTS, archive / MINUTES} <= set(files)
    with caplog.at_level(logging.INFO, logger="ecgssl.data.readers.swell"):
        recs = list(reader.recordings())
    assert "3 subjects" in caplog.text
    assert "WARNING" not in caplog.text  # µVolt, v2.04, footnotes: all normal
    keys = [(r.subject, r.trial) for r in recs]
    assert keys == [
        ("pp01", "c1"), ("pp01", "c2"), ("pp01", "c3"),
        ("pp02", "c1"), ("pp02", "c2"), ("pp02", "c3"),
        ("pp03", "c1"), ("pp03", "c2"), ("pp03", "c2_cont"), ("pp03", "c3"),
    ]  # fmt: skip
    raw = pd.read_excel(archive / OVERVIEW, sheet_name="Sheet3", header=None)
    cond = {(r[0], r[1]): r[2] for r in raw.iloc[1:10].itertuples(index=False)}
    reports = pd.read_excel(archive / REPORTS).set_index(["PP", "Blok"])
    n = int(BLOCK_S * FS)
    for rec in recs:
        p, b = int(rec.subject[2:]), int(rec.trial[1])
        assert rec.dataset == "swell"
        assert rec.fs == FS
        assert rec.ecg.dtype == np.float64
        expected_len = {"c2_cont": n - int(0.6 * n)}.get(rec.trial, n)
        if rec.subject == "pp03" and rec.trial == "c2":
            expected_len = int(0.6 * n)
        assert rec.ecg.size == expected_len
        np.testing.assert_array_equal(rec.ecg, read_poly5(rec.source).signals[7])
        assert rec.labels["stress"] == STRESS_CODES[cond[(p, b)]]
        assert rec.labels["arousal"] == reports.loc[(f"PP{p}", b), "Arousal_rc"]
        assert rec.labels["valence"] == reports.loc[(f"PP{p}", b), "Valence_rc"]
        assert set(rec.labels) == {"stress", "arousal", "valence"}
        assert rec.label_streams == {}
        if rec.trial == "c2_cont":  # starts after the rest minutes
            assert rec.withheld == ()
        else:  # 15 % of 10 s at the start of each block
            (rest,) = rec.withheld
            assert (rest.reason, rest.labels) == ("rest", ("stress",))
            assert rest.mask.sum() == round(0.15 * BLOCK_S * FS)
            assert rest.mask[: rest.mask.sum()].all()
    # stress is the condition, not the block number
    stress_c2 = {r.labels["stress"] for r in recs if r.trial == "c2"}
    assert stress_c2 == {1.0, 2.0}
    assert all(r.labels["stress"] == 0.0 for r in recs if r.trial == "c1")


def test_irregular_names_are_read(archive: Path):
    recs = _by_key(archive)
    assert recs[("pp02", "c2")].source.name == "pp2_19-9-2012-c2.S00"
    cont = recs[("pp03", "c2_cont")]
    assert cont.source.name == "pp3_20-9-2012_c2_cont.S00"
    assert cont.labels == recs[("pp03", "c2")].labels


def test_ecg_channel_option(archive: Path):
    rec = next(iter(SwellReader(archive, ecg_channel=6).recordings()))
    np.testing.assert_array_equal(rec.ecg, read_poly5(rec.source).signals[5])
    with pytest.raises(DataFormatError, match="channel 11") as info:
        next(iter(SwellReader(archive, ecg_channel=11).recordings()))
    assert info.value.field == "ecg_channel"
    assert info.value.path.suffix == ".S00"
    with pytest.raises(ValueError, match="ecg_channel"):
        SwellReader(archive, ecg_channel=0)
    with pytest.raises(TypeError, match="ecg_channel"):
        SwellReader(archive, ecg_channel="8")
    with pytest.raises(TypeError, match="stress_in_rest_minutes"):
        SwellReader(archive, stress_in_rest_minutes=0)


def test_unparseable_and_lowercase_names(copy: Path, caplog: pytest.LogCaptureFixture):
    phys = copy / PHYS
    (phys / "pp1_18-9-2012_c3.S00").rename(phys / "pp1_18-9-2012_c3.s00")
    shutil.copy(phys / "pp1_18-9-2012_c1.S00", phys / "calibration.S00")
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.swell"):
        files = SwellReader(copy).files()
    assert phys / "pp1_18-9-2012_c3.s00" in files
    assert phys / "calibration.S00" not in files
    assert "calibration.S00" in caplog.text
    assert "skipped" in caplog.text


def test_duplicated_subject_block(copy: Path):
    other = copy / "copy"
    other.mkdir()
    shutil.copy(copy / PHYS / "pp1_18-9-2012_c2.S00", other / "pp1_18-9-2012_c2.S00")
    with pytest.raises(
        DataFormatError, match="duplicated subject/block pp01 c2"
    ) as info:
        SwellReader(copy).files()
    assert info.value.field == "file name"


def test_missing_tables_give_none_and_notes(
    copy: Path, caplog: pytest.LogCaptureFixture
):
    (copy / OVERVIEW).unlink()
    reader = SwellReader(copy)
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.swell"):
        recs = {(r.subject, r.trial): r for r in reader.recordings()}
    assert "no condition table found" in caplog.text
    assert reader.label_notes["stress"].startswith("no condition table found")
    assert all(r.labels["stress"] is None for r in recs.values())
    assert all(r.labels["arousal"] is not None for r in recs.values())
    (copy / REPORTS).unlink()
    (copy / MINUTES).unlink()
    reader = SwellReader(copy)
    recs = {(r.subject, r.trial): r for r in reader.recordings()}
    assert all(set(r.labels.values()) == {None} for r in recs.values())
    assert reader.label_notes["arousal"].startswith("no self-report workbook found")
    assert set(reader.label_notes) == {"stress", "arousal", "valence"}


def test_missing_rows_are_unmatched_and_rest_condition_is_none(copy: Path):
    wb = openpyxl.load_workbook(copy / OVERVIEW)
    sheet = wb["Sheet3"]
    sheet["C4"] = "R"  # pp1 block 3
    sheet.delete_rows(5)  # pp2 block 1
    wb.save(copy / OVERVIEW)
    reports = pd.read_excel(copy / REPORTS)
    reports = reports[~((reports.PP == "PP3") & (reports.Blok == 3))]
    reports.to_excel(copy / REPORTS, index=False)
    recs = _by_key(copy)
    assert recs[("pp01", "c3")].labels["stress"] is None
    assert recs[("pp01", "c3")].labels["arousal"] is not None
    assert recs[("pp01", "c3")].withheld == ()  # R: no label, nothing to withhold
    assert recs[("pp02", "c1")].labels["stress"] is None
    assert [w.reason for w in recs[("pp02", "c1")].withheld] == ["unmatched"]
    assert recs[("pp03", "c3")].labels["arousal"] is None
    assert recs[("pp03", "c3")].labels["valence"] is None
    assert ("unmatched", ("arousal", "valence"), None) in [
        (w.reason, w.labels, w.mask) for w in recs[("pp03", "c3")].withheld
    ]
    assert recs[("pp03", "c1")].labels["arousal"] is not None


def test_self_report_tables_found_by_columns_leniently(copy: Path):
    # renamed file, header not on the first row, odd case, several sheets
    (copy / REPORTS).unlink()
    reports = pd.DataFrame(
        {"pp": ["PP1", "PP1", "PP2"], "BLOK": [1, 2, 1],
         "valence_RC": [2, 3, 4], "Arousal_rc": [8, 7, 6]}
    )  # fmt: skip
    later = pd.DataFrame(
        {"PP": ["PP1"], "Blok": [1], "Valence_rc": [9], "Arousal_rc": [1]}
    )
    labels_dir = copy / "labels"
    labels_dir.mkdir()
    with pd.ExcelWriter(labels_dir / "Labels per block.xlsx") as writer:
        reports.to_excel(writer, sheet_name="A", index=False, startrow=2)
        later.to_excel(writer, sheet_name="B", index=False)
    (copy / "~$Labels per block.xlsx").write_bytes(b"lock file")
    recs = _by_key(copy)
    assert recs[("pp01", "c1")].labels["arousal"] == 1.0  # the later sheet wins
    assert recs[("pp01", "c1")].labels["valence"] == 9.0
    assert recs[("pp01", "c2")].labels["arousal"] == 7.0
    assert recs[("pp02", "c1")].labels["valence"] == 4.0
    assert recs[("pp02", "c2")].labels["arousal"] is None


def test_corrupt_workbook(copy: Path):
    (copy / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(DataFormatError) as info:
        list(SwellReader(copy).recordings())
    assert (info.value.path, info.value.field) == (copy / "broken.xlsx", "workbook")


def test_malformed_poly5_via_reader(copy: Path):
    path = copy / PHYS / "pp2_19-9-2012_c3.S00"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(DataFormatError) as info:
        list(SwellReader(copy).recordings())
    assert info.value.path == path
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        list(SwellReader(copy).recordings())


def test_no_signal_files_and_missing_root(tmp_path: Path):
    with pytest.raises(DataFormatError) as info:
        SwellReader(tmp_path / "nope")
    assert info.value.field == "path"
    with pytest.raises(DataFormatError, match="no SWELL Poly5 file"):
        SwellReader(tmp_path).files()


def test_reader_is_lazy(tmp_path: Path):
    x = np.zeros((8, 100))
    kw = {"fs": 100, "names": ["c"] * 8, "units": ["µV"] * 8}
    write_poly5(tmp_path / "pp1_1-1-2012_c1.S00", x, **kw)
    (tmp_path / "pp2_1-1-2012_c1.S00").write_bytes(b"")
    it = SwellReader(tmp_path).recordings()  # no workbook: labels None
    first = next(it)
    assert (first.subject, first.labels["stress"]) == ("pp01", None)
    with pytest.raises(DataFormatError):
        next(it)


def test_duplicated_columns_in_workbook(copy: Path):
    (copy / REPORTS).unlink()
    table = pd.DataFrame(
        [["PP1", 1, 5, 5, "PP1"]],
        columns=["PP", "Blok", "Valence_rc", "Arousal_rc", "pp"],
    )
    table.to_excel(copy / "labels.xlsx", index=False)
    with pytest.raises(DataFormatError, match="more than once") as info:
        list(SwellReader(copy).recordings())
    assert info.value.path == copy / "labels.xlsx"
